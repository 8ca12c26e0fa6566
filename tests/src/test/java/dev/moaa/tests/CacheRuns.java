package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.avro.generic.GenericRecord;

/** Helpers of the cache, resume and budget tests: inputs, configs, runs of the bundled jar. */
final class CacheRuns {
  static final Path JAR = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();

  private CacheRuns() {}

  /** {@code n} single-turn prompts, so every call of a row depends on that row alone. */
  static Path prompts(Path dir, String tag, int n) throws IOException {
    Files.createDirectories(dir);
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append("{\"id\":\"").append(tag).append('-').append(i).append("\",\"prompt\":\"")
          .append(tag).append(" question ").append(i).append(": explain how tides form, for reader ")
          .append(i).append(".\"}\n");
    }
    Path f = dir.resolve("prompts.jsonl");
    Files.writeString(f, b.toString(), StandardCharsets.UTF_8);
    return f;
  }

  /** An SFT config of three proposers and an aggregator on {@code sim}, with {@code cache} (YAML). */
  static String config(SimulatedEndpoint sim, String cache, String extraDefaults) {
    return Fixtures.config(sim.baseUrl(), 3, 1, 3, extraDefaults) + cache;
  }

  static String sqlite(Path file) {
    return "cache: {backend: sqlite, path: " + file.toAbsolutePath() + "}\n";
  }

  static String redis(String url) {
    return "cache: {backend: redis, url: " + url + ", lock_ttl_ms: 2000}\n";
  }

  /**
   * Starts {@code moaa sft} in its own JVM, output to {@code log}; without the preflight, as {@link
   * Fixtures#moaa} runs them: these tests count the calls of the rows exactly.
   */
  static Process start(Path config, Path input, Path output, Path log) throws IOException {
    assertTrue(Files.exists(JAR), "the bundled jar is built before the tests module: " + JAR);
    return new ProcessBuilder(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx512m", "-jar", JAR.toString(), "sft", "--config=" + config, "--input=" + input, "--output=" + output,
        "--preflight=false"))
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  /** Waits for a started run; returns its exit code, failing the test if it hangs. */
  static int await(Process p, Path log) throws Exception {
    assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the run ends: " + Files.readString(log));
    System.out.println(Files.readString(log, StandardCharsets.UTF_8));
    return p.exitValue();
  }

  /** Conversation id to its messages, from the Parquet shards of a run. */
  static Map<String, String> rows(Path output) throws IOException {
    Map<String, String> rows = new TreeMap<>();
    for (GenericRecord r : Fixtures.readParquet(output.resolve("sft/parquet"))) {
      String id = r.get("id").toString();
      if (rows.put(id, String.valueOf(r.get("messages"))) != null) {
        throw new AssertionError("row " + id + " written twice");
      }
    }
    return rows;
  }

  /** Requests of a model that the endpoint answered with 200. */
  static List<RecordedRequest> answered(SimulatedEndpoint sim, String model) {
    List<RecordedRequest> out = new ArrayList<>();
    for (RecordedRequest r : sim.requests()) {
      if (r.status() == 200 && model.equals(r.model())) {
        out.add(r);
      }
    }
    return out;
  }
}
