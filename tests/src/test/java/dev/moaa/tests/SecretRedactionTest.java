package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The bundled jar runs as a user would run it, with the API key in an environment variable. The
 * endpoint only answers requests that carry that key, so the key was used; then every file the run
 * wrote and everything it printed is searched for the key's value.
 */
class SecretRedactionTest {

  @Test
  void givenAKeyInTheEnvironment_itIsSentButAppearsInNoOutputLogManifestDeadLetterOrCacheFile() throws Exception {
    Path cache = Paths.get("target", "e2e", "secrets-cache", "responses.sqlite").toAbsolutePath();
    Fixtures.workDir("secrets-cache");
    runAndScan("sft", "secrets", (url) -> Fixtures.config(url, 2, 1, 1, "  api_key_env: MOAA_TEST_KEY\n")
        + CacheRuns.sqlite(cache));
    assertTrue(Files.size(cache) > 0, "the cache was written");
    String key = lastKey;
    assertEquals(List.of(), containing(cache.getParent(), key), "cache files containing the key");
  }

  @Test
  void givenARedisCache_noKeyOrValueStoredThereHoldsTheApiKey() throws Exception {
    try (dev.moaa.runners.launch.LocalRedis redis = dev.moaa.runners.launch.LocalRedis.start()) {
      runAndScan("sft", "secrets-redis", (url) -> Fixtures.config(url, 2, 1, 1, "  api_key_env: MOAA_TEST_KEY\n")
          + CacheRuns.redis(redis.url()));
      int scanned = 0;
      try (redis.clients.jedis.Jedis j = new redis.clients.jedis.Jedis("127.0.0.1", redis.port())) {
        for (String k : j.keys("*")) {
          scanned++;
          assertTrue(!k.contains(lastKey), "a Redis key holds the API key");
          String v = j.get(k);
          assertTrue(v == null || !v.contains(lastKey), "the value of " + k + " holds the API key");
        }
      }
      assertTrue(scanned >= 20, "answers were cached in Redis: " + scanned);
    }
  }

  private String lastKey;

  @Test
  void givenAKeyInTheEnvironment_theDpoRunLeaksItNowhereEither() throws Exception {
    runAndScan("dpo", "secrets-dpo", (url) -> DpoFixtures.config(url, "{mode: moa, judges: [j1, j2], aggregator: lead}", 3)
        .replace("  max_concurrency: 24\n", "  max_concurrency: 24\n  api_key_env: MOAA_TEST_KEY\n"));
  }

  private void runAndScan(String command, String dirName, java.util.function.Function<String, String> config) throws Exception {
    String key = "sk-moaa-test-" + UUID.randomUUID().toString().replace("-", "");
    lastKey = key;
    Path work = Fixtures.workDir(dirName);
    Path jar = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();
    assertTrue(Files.exists(jar), "the bundled jar is built before the tests module: " + jar);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(5).withRequiredApiKey(key).withRate5xx(0.2).withSeed(3))) {
      Files.createDirectories(work.resolve("in"));
      StringBuilder rows = new StringBuilder();
      for (int i = 0; i < 20; i++) {
        rows.append("{\"prompt\":\"Secret test ").append(i).append(i % 10 == 3 ? " SIM_ALWAYS_FAIL" : "").append("\"}\n");
      }
      rows.append("{not json at all}\n");
      Files.writeString(work.resolve("in/rows.jsonl"), rows);
      Files.writeString(work.resolve("config.yaml"), config.apply(sim.baseUrl()));
      Path log = work.resolve("run.log");
      ProcessBuilder pb = new ProcessBuilder(List.of(javaBin(), "-jar", jar.toString(), command,
          "--config=" + work.resolve("config.yaml"), "--input=" + work.resolve("in/rows.jsonl"),
          "--output=" + work.resolve("out")))
          .redirectErrorStream(true).redirectOutput(log.toFile());
      pb.environment().put("MOAA_TEST_KEY", key);
      Process p = pb.start();
      assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the run ends");
      String printed = Files.readString(log, StandardCharsets.UTF_8);
      System.out.println(printed);
      assertEquals(0, p.exitValue(), printed);
      assertTrue(sim.requests().stream().anyMatch(r -> r.authorized()), "the key reached the endpoint");
      assertTrue(printed.contains("read 21 = written"), printed);
    }
    long scanned;
    try (Stream<Path> files = Files.walk(work)) {
      scanned = files.filter(Files::isRegularFile).count();
    }
    assertTrue(scanned >= 8, "shards, dead letters, manifest, counts, log: " + scanned);
    assertEquals(List.of(), containing(work, key), "files containing the key");
  }

  /** Every file under {@code dir} whose bytes hold {@code key}. */
  private static List<Path> containing(Path dir, String key) throws IOException {
    List<Path> hits = new ArrayList<>();
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        if (new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1).contains(key)) {
          hits.add(f);
        }
      }
    }
    return hits;
  }

  private static String javaBin() throws IOException {
    return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
  }
}
