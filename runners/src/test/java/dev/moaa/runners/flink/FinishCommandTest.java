package dev.moaa.runners.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.runners.Moaa;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@code moaa finish} refuses before it asks a cluster anything, and a folder it finished
 * already. Finishing a real submitted job is {@code LocalFlinkClusterTest}'s (tests module).
 */
class FinishCommandTest {
  @TempDir Path dir;

  private record Result(int code, String out, String err) {}

  private static Result moaa(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Moaa.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private Path config(String aggregator) throws IOException {
    Path f = dir.resolve(aggregator + ".yaml");
    Files.writeString(f, "defaults: {base_url: 'http://127.0.0.1:9/v1'}\n"
        + "models:\n  p1: {model: m1}\n  p2: {model: m2}\n  " + aggregator + ": {model: m3}\n"
        + "sft: {proposers: [p1, p2], aggregator: " + aggregator + "}\n");
    return f;
  }

  private Path submitted(Path config, String master) throws IOException {
    Path out = dir.resolve("out");
    Files.createDirectories(out.resolve("_run"));
    Files.writeString(out.resolve("_run/submitted.json"), "{\"command\": \"sft\", \"job_name\": \"moaa-test-1\","
        + " \"job_id\": null, \"started_at\": \"2026-12-06T02:00:00Z\", \"submitted_at\": \"2026-12-06T02:00:05Z\","
        + " \"config_hash\": \"" + MoaaConfig.load(config).hash() + "\", \"spec\": {\"inputs\": [\"/data/in.jsonl\"],"
        + " \"output\": \"" + out + "\", \"format\": \"auto\", \"shards\": 1}, \"runner\": \"FlinkRunner\","
        + " \"flink_master\": \"" + master + "\", \"preflight\": {\"enabled\": false}}\n");
    return out;
  }

  @Test
  void aFolderWithoutASubmission_isAUsageError() throws IOException {
    Result r = moaa("finish", "--config=" + config("agg"), "--output=" + dir.resolve("nothing"));
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("no job was submitted into"), r.err());
  }

  @Test
  void anotherConfig_thanTheJobWasSubmittedWith_isRefused() throws IOException {
    Path out = submitted(config("agg"), "127.0.0.1:8081");
    Result r = moaa("finish", "--config=" + config("other"), "--output=" + out);
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("is not the configuration the job was submitted with"), r.err());
  }

  @Test
  void aJobSubmittedFromInsideTheCluster_needsTheClustersRestAddress() throws IOException {
    Path config = config("agg");
    Path out = submitted(config, "[auto]");
    Result r = moaa("finish", "--config=" + config, "--output=" + out);
    assertEquals(2, r.code(), r.err());
    assertTrue(r.err().contains("--flinkMaster=HOST:PORT: the REST address of the Flink cluster the job runs on"
        + " (the run named [auto])"), r.err());
  }

  @Test
  void anEarlierAttemptsSubmission_isNotTheOneAskedFor() throws IOException {
    Path config = config("agg");
    Path out = submitted(config, "127.0.0.1:8081");
    Result r = moaa("finish", "--config=" + config, "--output=" + out, "--submittedAfter=2026-12-06T03:00:00Z",
        "--submissionTimeoutSeconds=1");
    assertEquals(1, r.code(), r.err());
    assertTrue(r.err().contains("no job was submitted into " + out + " within 1 s"), r.err());
  }

  @Test
  void aFolderItFinished_givesTheSameExitCodeAgain() throws IOException {
    Path config = config("agg");
    Path out = submitted(config, "127.0.0.1:9");
    Files.writeString(out.resolve("manifest.json"), "{\"command\": \"sft\", \"state\": \"DONE\","
        + " \"status\": \"STOPPED BY THE BUDGET\", \"exit_code\": 3}\n");
    Files.writeString(out.resolve("README.md"), "card\n");
    Files.writeString(out.resolve("report.html"), "report\n");
    Result r = moaa("finish", "--config=" + config, "--output=" + out);
    assertEquals(3, r.code(), r.out() + r.err());
    assertTrue(r.out().contains("is finished (STOPPED BY THE BUDGET)"), r.out());
  }
}
