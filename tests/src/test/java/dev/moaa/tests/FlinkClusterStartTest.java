package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.runners.flink.LocalFlinkCluster;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * {@code moaa flink-cluster start} as a user runs it, from the bundled jar: the cluster starts with
 * the jar's classes on it and runs its warm-up job, which finishes and leaves no folder behind.
 */
@Tag("cluster")
class FlinkClusterStartTest {
  private static final Path JAR = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();

  private static String moaa(Path log, String... args) throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx1g", "-jar", JAR.toString()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertTrue(p.waitFor(4, TimeUnit.MINUTES), "moaa " + String.join(" ", args) + " did not end in 4 minutes");
    String out = Files.readString(log, StandardCharsets.UTF_8);
    assertEquals(0, p.exitValue(), out);
    return out;
  }

  @Test
  void startRunsAWarmUpJobThatFinishesAndCleansUp() throws Exception {
    assertTrue(Files.isRegularFile(JAR), "the bundled jar is built by `mvn install` before the tests: " + JAR);
    Path work = Fixtures.workDir("flink-cluster-start");
    Path dir = work.resolve("cluster");
    LocalFlinkCluster.stop(dir);
    try {
      String out = moaa(work.resolve("start.log"), "flink-cluster", "start", "--dir=" + dir, "--taskmanagers=1",
          "--slots=2");
      assertTrue(out.contains("the job ships no jar"), out);
      assertTrue(out.contains("warm-up job done in"), out);
      assertFalse(Files.exists(dir.resolve("warm-up")), "the warm-up job's folder is deleted");
      String port = out.replaceAll("(?s).*--flinkMaster=127\\.0\\.0\\.1:(\\d+).*", "$1");
      HttpResponse<String> jobs = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create("http://127.0.0.1:" + port + "/jobs/overview")).GET().build(), HttpResponse.BodyHandlers.ofString());
      JsonNode list = new ObjectMapper().readTree(jobs.body()).path("jobs");
      assertEquals(1, list.size(), jobs.body());
      assertEquals("moaa-cluster-warm-up", list.get(0).path("name").asText(), jobs.body());
      assertEquals("FINISHED", list.get(0).path("state").asText(), jobs.body());

      String skipped = moaa(work.resolve("restart.log"), "flink-cluster", "start", "--dir=" + work.resolve("bare"),
          "--taskmanagers=1", "--slots=1", "--job-jar=none");
      assertFalse(skipped.contains("warming it up"), "a bare cluster gets no warm-up job\n" + skipped);
      moaa(work.resolve("stop-bare.log"), "flink-cluster", "stop", "--dir=" + work.resolve("bare"));
    } finally {
      LocalFlinkCluster.stop(dir);
      LocalFlinkCluster.stop(work.resolve("bare"));
    }
  }
}
