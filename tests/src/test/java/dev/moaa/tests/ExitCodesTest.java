package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * What the exit code and the last lines of a run tell a script, against endpoints that are not
 * there, refuse the key, fail half-way or fail everything; and a run killed between its manifest and
 * its report, finished by the same command.
 */
class ExitCodesTest {

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  @Test
  void givenAnEndpointThatIsNotThere_thePreflightExits2NamingTheModel_andNothingIsProcessed() throws Exception {
    Path work = Fixtures.workDir("exit-unreachable");
    Path input = CacheRuns.prompts(work.resolve("in"), "gone", 5);
    Files.writeString(work.resolve("c.yaml"), Fixtures.config("http://127.0.0.1:" + freePort() + "/v1", 2, 1, 1, "")
        + "cache: {backend: none}\n");
    Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
        "--output=" + work.resolve("out"), "--preflight=true");
    assertEquals(2, run.code(), run.err());
    assertTrue(run.err().contains("model p1 (sim-proposer-1 at http://127.0.0.1:"), run.err());
    assertTrue(run.err().contains("cannot be reached"), run.err());
    assertTrue(run.err().contains("nothing was processed"), run.err());
    assertFalse(Files.exists(work.resolve("out")), "no output folder was made");
  }

  @Test
  void givenAKeyTheServerRefuses_thePreflightExits2WithWhatTheServerSaid_andOnlyTheProbesArePaid() throws Exception {
    Path work = Fixtures.workDir("exit-401");
    Path input = CacheRuns.prompts(work.resolve("in"), "key", 5);
    Path key = work.resolve("key.txt");
    Files.writeString(key, "sk-wrong-key-0000000000000000", StandardCharsets.UTF_8);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(5).withRequiredApiKey("sk-the-right-key-1111111111111"))) {
      Files.writeString(work.resolve("c.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 1,
          "  api_key_file: " + key.toAbsolutePath() + "\n") + "cache: {backend: none}\n");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + work.resolve("out"), "--preflight=true");
      assertEquals(2, run.code(), run.err());
      assertTrue(run.err().contains("refused the API key (HTTP 401)"), run.err());
      assertFalse(run.err().contains("sk-wrong-key"), "the key never appears in a message");
      assertEquals(3, sim.requestCount(), "one probe per model (p1, p2, agg), nothing else");
    }
  }

  @Test
  void givenThePreflightOn_itsProbesArePaidAndCounted_andTheRunGoesOn() throws Exception {
    Path work = Fixtures.workDir("exit-preflight-ok");
    int rows = 6;
    Path input = CacheRuns.prompts(work.resolve("in"), "pf", rows);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      Files.writeString(work.resolve("c.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 2, "") + "cache: {backend: none}\n");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + work.resolve("out"), "--preflight=true");
      assertEquals(0, run.code(), run.err());
      assertTrue(run.out().contains("preflight: 3 of 3 endpoint(s) answered"), run.out());
      JsonNode m = Fixtures.manifest(work.resolve("out"));
      assertEquals(3, m.path("preflight").path("requests").asLong());
      assertEquals(rows * 3 + 3, sim.requestCount());
      assertEquals(sim.requestCount(), m.path("totals").path("paid_calls").asLong(), "every request sent is paid");
      assertEquals("DONE", m.path("status").asText());
      assertEquals(0, m.path("exit_code").asInt());
    }
  }

  @Test
  void givenAProposerWhoseServerGoesAwayMidRun_theRunReconcilesButExits4NamingTheModel() throws Exception {
    Path work = Fixtures.workDir("exit-midrun");
    int rows = 60;
    Path input = CacheRuns.prompts(work.resolve("in"), "mid", rows);
    SimulatedEndpoint.Settings s = SimulatedEndpoint.Settings.defaults().withLatencyMs(40);
    try (SimulatedEndpoint main = SimulatedEndpoint.start(s); SimulatedEndpoint flaky = SimulatedEndpoint.start(s)) {
      String yaml = Fixtures.config(main.baseUrl(), 2, 1, 1, "  max_concurrency: 4\n").replace("  max_concurrency: 16\n", "")
          .replace("  p2: {model: sim-proposer-2}", "  p2: {model: sim-proposer-2, base_url: " + flaky.baseUrl() + "}")
          + "cache: {backend: none}\n";
      Files.writeString(work.resolve("c.yaml"), yaml);
      Thread killer = new Thread(() -> {
        while (flaky.requestCount() < 10) {
          Thread.onSpinWait();
        }
        flaky.close();
      });
      killer.start();
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + work.resolve("out"));
      killer.join();
      assertEquals(4, run.code(), run.out() + run.err());
      assertTrue(run.err().contains("model p2 failed"), run.err());
      assertTrue(run.err().contains("max_failure_share"), run.err());
      assertTrue(run.out().contains("FINISHED WITH FAILURES"), run.out());
      assertFalse(run.out().contains(" DONE "), run.out());
      JsonNode m = Fixtures.manifest(work.resolve("out"));
      Fixtures.assertReconciles(m, rows, m.path("counts").path("written").asLong(),
          m.path("counts").path("dead_lettered").asLong(), 0);
      assertTrue(m.path("counts").path("written").asLong() > 0, "p1 alone still makes rows (min_proposals 1)");
      assertEquals(4, m.path("exit_code").asInt());
      assertFalse(m.path("complete").asBoolean(), "a rerun of the same command resumes it");
    }
  }

  @Test
  void givenARunThatWritesNothing_itExits4AndSaysWhy() throws Exception {
    Path work = Fixtures.workDir("exit-nothing");
    Files.createDirectories(work.resolve("in"));
    Path input = work.resolve("in/p.jsonl");
    Files.writeString(input, "{\"id\":\"a\",\"prompt\":\"SIM_ALWAYS_FAIL one\"}\n{\"id\":\"b\",\"prompt\":\"SIM_ALWAYS_FAIL two\"}\n");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      Files.writeString(work.resolve("c.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 1, "") + "cache: {backend: none}\n");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + work.resolve("out"));
      assertEquals(4, run.code(), run.err());
      assertTrue(run.err().contains("the run wrote no row from 2 read"), run.err());
      Fixtures.assertReconciles(Fixtures.manifest(work.resolve("out")), 2, 0, 2, 0);
    }
  }

  @Test
  void givenARunKilledAfterItsManifest_theSameCommandWritesTheMissingReportAndCard_withoutACall() throws Exception {
    Path work = Fixtures.workDir("exit-resume-report");
    int rows = 4;
    Path input = CacheRuns.prompts(work.resolve("in"), "rep", rows);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      Files.writeString(work.resolve("c.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 2, "") + "cache: {backend: none}\n");
      String[] args = {"sft", "--config=" + work.resolve("c.yaml"), "--input=" + input, "--output=" + work.resolve("out")};
      assertEquals(0, Fixtures.moaa(args).code());
      Path out = work.resolve("out");
      String manifest = Files.readString(out.resolve("manifest.json"));
      // what a kill right after the manifest leaves behind
      Files.delete(out.resolve("report.html"));
      Files.delete(out.resolve("README.md"));
      long before = sim.requestCount();

      Fixtures.Run again = Fixtures.moaa(args);
      assertEquals(0, again.code(), again.err());
      assertTrue(again.out().contains("writing its missing dataset card and report"), again.out());
      assertTrue(Files.exists(out.resolve("report.html")));
      assertTrue(Files.exists(out.resolve("README.md")));
      assertEquals(manifest, Files.readString(out.resolve("manifest.json")), "the manifest is left as it was");
      assertEquals(before, sim.requestCount(), "nothing was called again");
    }
  }
}
