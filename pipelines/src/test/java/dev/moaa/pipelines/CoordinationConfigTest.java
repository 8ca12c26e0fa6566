package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.limits.Coordination;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The {@code coordination:} section: defaults, fields, errors that name their field, and what reaches the endpoints. */
class CoordinationConfigTest {
  private static final String MODELS = """
      defaults: {base_url: "http://127.0.0.1:9/v1", max_concurrency: 8}
      models:
        a: {model: model-a}
        b: {model: model-b, base_url: "http://other.invalid/v1"}
        agg: {model: model-agg}
      sft: {proposers: [a, b], aggregator: agg}
      """;
  private static final String REDIS_CACHE = "cache: {backend: redis, url: \"redis://127.0.0.1:6390/2\"}\n";

  private static MoaaConfig parse(String yaml) {
    return MoaaConfig.parse(yaml, Map.of("PW", "secret")::get);
  }

  private static void failsAt(String yaml, String path, String words) {
    ConfigException e = assertThrows(ConfigException.class, () -> parse(yaml));
    assertEquals(path, e.path(), e.getMessage());
    assertTrue(e.getMessage().contains(words), e.getMessage());
  }

  @Test
  void givenNoSection_itIsOffUnlessTheCacheIsOnRedis_thenItSharesTheCachesServer() {
    MoaaConfig off = parse(MODELS + "cache: {backend: none}\n");
    assertNull(off.coordination());
    off.models().values().forEach(m -> assertNull(m.coordination(), m.name()));

    MoaaConfig on = parse(MODELS + REDIS_CACHE);
    Coordination c = on.coordination();
    assertEquals("redis://127.0.0.1:6390/2", c.location());
    assertEquals("moaa", c.key());
    assertEquals(10_000, c.leaseTtlMs());
    assertFalse(on.shareBudget());
    for (ModelEndpoint m : on.models().values()) {
      assertEquals(c, m.coordination(), m.name());
      assertTrue(m.budgetCoordination().key().startsWith("moaa/run/"), m.budgetCoordination().key());
    }
  }

  @Test
  void givenEveryField_theyReachEveryEndpoint() {
    MoaaConfig c = parse(MODELS + """
        coordination: {backend: redis, url: "redis://10.0.0.5:6379/1", password_env: PW, key: team-a,
                       lease_ttl_ms: 3000, share_budget: true}
        """);
    assertEquals("team-a", c.coordination().key());
    assertEquals(3000, c.coordination().leaseTtlMs());
    assertEquals("PW", c.coordination().passwordEnv());
    assertTrue(c.shareBudget());
    for (ModelEndpoint m : c.models().values()) {
      assertEquals(c.coordination(), m.coordination());
      assertEquals(c.coordination(), m.budgetCoordination(), "one ledger for every run naming the key");
    }
    assertEquals(parse(MODELS).hash(), c.hash(), "where limits are shared does not change what a row holds");
  }

  @Test
  void theModelsIdentityInTheStore_isItsNamePlusAHashOfItsEndpoint() {
    MoaaConfig c = parse(MODELS + REDIS_CACHE);
    String a = c.models().get("a").coordinationId();
    assertTrue(a.matches("a@[0-9a-f]{10}"), a);
    MoaaConfig other = parse(MODELS.replace("a: {model: model-a}", "a: {model: model-z}") + REDIS_CACHE);
    assertNotEquals(a, other.models().get("a").coordinationId(), "another endpoint named a");
  }

  @Test
  void backendNone_turnsTheDefaultOff_evenWithARedisCache() {
    assertNull(parse(MODELS + REDIS_CACHE + "coordination: {backend: none}\n").coordination());
  }

  @Test
  void errorsNameTheirField() {
    failsAt(MODELS + "coordination: {backend: zookeeper}\n", "coordination.backend", "redis or none");
    failsAt(MODELS + "coordination: {backend: redis}\n", "coordination.url", "missing required field");
    failsAt(MODELS + "coordination: {url: \"http://x:1\"}\n", "coordination.url", "redis://");
    failsAt(MODELS + "coordination: {url: \"redis://h:1\", keys: x}\n", "coordination.keys", "unknown field");
    failsAt(MODELS + "coordination: {url: \"redis://h:1\", key: \"has space\"}\n", "coordination.key", "coordination key");
    failsAt(MODELS + "coordination: {url: \"redis://h:1\", lease_ttl_ms: 50}\n", "coordination.lease_ttl_ms", "200");
    failsAt(MODELS + "coordination: {url: \"redis://h:1\", share_budget: yes-please}\n", "coordination.share_budget",
        "true or false");
    failsAt(MODELS + "coordination: {url: \"redis://h:1\", password_env: NOT_SET}\n", "coordination.password_env",
        "not set");
    failsAt(MODELS + "coordination: {backend: none, key: k}\n", "coordination.key", "backend: redis");
  }

  @Test
  void theStartOfARunSaysWhichModeIsInForce_andWarnsOfPerWorkerLimitsOnACluster() {
    MoaaConfig off = parse(MODELS + "cache: {backend: none}\n");
    List<String> flink = RunCommand.coordinationLines(off, new RunTarget("FlinkRunner", false, null, 4));
    assertTrue(flink.get(0).contains("per JVM"), flink.toString());
    assertTrue(flink.get(1).contains("limits and budget are per worker"), flink.toString());
    assertTrue(RunCommand.coordinationLines(off, new RunTarget("FlinkRunner", false, "localhost:8081", 1)).size() == 2);
    assertEquals(1, RunCommand.coordinationLines(off, RunTarget.directRunner()).size());
    List<String> on = RunCommand.coordinationLines(parse(MODELS + REDIS_CACHE), new RunTarget("FlinkRunner", false, "h:8081", 4));
    assertEquals(1, on.size());
    assertTrue(on.get(0).contains("shared by every worker") && on.get(0).contains("'moaa'"), on.get(0));
  }
}
