package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MoaaConfigTest {
  private static final String GOOD = """
      defaults: {base_url: "http://127.0.0.1:9/v1", max_concurrency: 8}
      models:
        a: {model: model-a, api_key_env: KEY_A, temperature: 0.7, price: {input_per_million: 1.5, output_per_million: 3}}
        b: {model: model-b, retry: {max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20}}
        agg: {model: model-agg, base_url: "https://example.invalid/v1", max_concurrency: 4}
      sft: {proposers: [a, b], aggregator: agg, layers: 2}
      """;

  private static MoaaConfig parse(String yaml) {
    return MoaaConfig.parse(yaml, Map.of("KEY_A", "sk-whatever")::get);
  }

  private static void failsAt(String yaml, String path, String words) {
    ConfigException e = assertThrows(ConfigException.class, () -> parse(yaml));
    assertEquals(path, e.path(), e.getMessage());
    assertTrue(e.getMessage().contains(words), e.getMessage());
  }

  @Test
  void aValidFile_givesEndpointsWithDefaultsMergedAndTheTopology() {
    MoaaConfig c = parse(GOOD);
    assertEquals("http://127.0.0.1:9/v1", c.models().get("a").baseUrl());
    assertEquals(8, c.models().get("a").maxConcurrency());
    assertEquals(4, c.models().get("agg").maxConcurrency());
    assertEquals("KEY_A", c.models().get("a").apiKeyEnv());
    assertEquals(0.7, c.models().get("a").temperature());
    assertEquals(2, c.models().get("b").retry().maxAttempts());
    assertEquals(3.0e-6 * 2 + 1.5e-6, c.models().get("a").costUsd(1, 2), 1e-12);
    assertEquals(2, c.sft().layers());
    assertEquals(1, c.sft().minProposals(), "default: half the proposers, rounded up");
    assertEquals(64, c.hash().length());
  }

  @Test
  void theHashIgnoresLayoutAndKeyOrderButNotValues() {
    String reordered = GOOD.replace("{proposers: [a, b], aggregator: agg, layers: 2}", "{layers: 2, aggregator: agg, proposers: [a, b]}");
    assertEquals(parse(GOOD).hash(), parse(reordered).hash());
    assertNotEquals(parse(GOOD).hash(), parse(GOOD.replace("layers: 2", "layers: 3")).hash());
  }

  @Test
  void anUnknownModelName_namesTheFieldAndTheModelsDefined() {
    failsAt(GOOD.replace("aggregator: agg", "aggregator: agg2"), "sft.aggregator", "unknown model 'agg2'");
    failsAt(GOOD.replace("[a, b]", "[a, c]"), "sft.proposers[1]", "[a, agg, b]");
  }

  @Test
  void aMissingOrMistypedField_namesIt() {
    failsAt(GOOD.replace("model: model-b, ", ""), "models.b.model", "missing required field");
    failsAt(GOOD.replace("temperature: 0.7", "temprature: 0.7"), "models.a.temprature", "unknown field");
    failsAt(GOOD.replace("layers: 2", "layers: zero"), "sft.layers", "integer");
    failsAt(GOOD.replace("temperature: 0.7", "temperature: 7"), "models.a.temperature", "from 0.0 to 2.0");
    failsAt(GOOD.replace("\"https://example.invalid/v1\"", "ftp://x"), "models.agg.base_url", "not an http(s) URL");
    failsAt("models: {}\n", "models", "at least one model");
    failsAt("models: [\n", "(file)", "not valid YAML");
  }

  @Test
  void anUnsetKeyVariable_namesTheVariableButNeverAValue() {
    ConfigException e = assertThrows(ConfigException.class, () -> MoaaConfig.parse(GOOD, Map.<String, String>of()::get));
    assertEquals("models.a.api_key_env", e.path());
    assertTrue(e.getMessage().contains("KEY_A is not set"));
  }

  @Test
  void cacheBudgetAndRateLimits_areReadValidatedAndReachEveryEndpoint() {
    MoaaConfig c = parse(GOOD.replace("max_concurrency: 8}",
        "max_concurrency: 8, requests_per_minute: 600, tokens_per_minute: 90000, backoff_factor: 0.5}") + """
        cache: {backend: redis, url: "redis://127.0.0.1:6390/2", lock_ttl_ms: 5000}
        budget: {max_tokens: 100000}
        """);
    assertEquals(dev.moaa.transforms.cache.CacheSpec.Backend.REDIS, c.cache().backend());
    assertEquals(5000, c.cache().lockTtlMs());
    assertEquals(100000, c.budget().maxTokens());
    for (var m : c.models().values()) {
      assertEquals(c.cache().sharingKey(), m.cache().sharingKey(), m.name());
      assertEquals(c.budget().runId(), m.budget().runId(), m.name());
      assertEquals(600, m.rateLimits().requestsPerMinute());
      assertEquals(90000, m.rateLimits().tokensPerMinute());
      assertEquals(0.5, m.rateLimits().backoffFactor());
      assertTrue(m.rateLimits().adaptive());
    }
    assertEquals(parse(GOOD.replace("max_concurrency: 8}",
        "max_concurrency: 8, requests_per_minute: 600, tokens_per_minute: 90000, backoff_factor: 0.5}")).hash(), c.hash(), "where answers are cached and the budget do not change what a row holds");
    assertNotEquals(parse(GOOD).budget().runId(), parse(GOOD).budget().runId(), "each run has its own budget");
  }

  @Test
  void reasoningFieldsAndTheAdaptiveMode_areReadAndReachTheEndpoint() {
    MoaaConfig c = parse(GOOD.replace("b: {model: model-b,", "b: {model: model-b, max_completion_tokens: 900,"
        + " reasoning_effort: low, keep_reasoning: true, max_failure_share: 0.2, adaptive_mode: aimd,"
        + " latency_tolerance: 2.0, latency_window: 32,")
        .replace("max_backoff_ms: 20}", "max_backoff_ms: 20, max_rate_limit_wait_ms: 60000}"));
    var b = c.models().get("b");
    assertEquals(900, b.maxCompletionTokens());
    assertEquals("low", b.reasoningEffort());
    assertTrue(b.keepReasoning());
    assertEquals(0.2, b.maxFailureShare());
    assertEquals(60_000, b.retry().maxRateLimitWaitMs());
    assertEquals(dev.moaa.transforms.client.AdaptiveLimit.Mode.AIMD, b.rateLimits().adaptiveLimit().mode());
    assertEquals(2.0, b.rateLimits().adaptiveLimit().tolerance());
    assertEquals(32, b.rateLimits().adaptiveLimit().window());
    var a = c.models().get("a");
    assertEquals(dev.moaa.transforms.client.AdaptiveLimit.Mode.LATENCY, a.rateLimits().adaptiveLimit().mode(),
        "latency-aware by default");
    assertFalse(a.keepReasoning());
    assertEquals(0.5, a.maxFailureShare());
    failsAt(GOOD.replace("b: {model: model-b,", "b: {model: model-b, adaptive_mode: vegas,"), "models.b",
        "aimd or latency");
    failsAt(GOOD.replace("b: {model: model-b,", "b: {model: model-b, keep_reasoning: 1,"), "models.b.keep_reasoning",
        "true or false");
  }

  @Test
  void theDefaultCacheIsAnSqliteFile_whichMoaaCacheDirMovesOrTurnsOff() {
    var dflt = MoaaConfig.parse(GOOD, Map.of("KEY_A", "k")::get).cache();
    assertEquals(dev.moaa.transforms.cache.CacheSpec.Backend.SQLITE, dflt.backend());
    assertTrue(dflt.location().endsWith(".cache/moaa/responses.sqlite"), dflt.location());
    var moved = MoaaConfig.parse(GOOD, Map.of("KEY_A", "k", "MOAA_CACHE_DIR", "/data/c")::get).cache();
    assertEquals("/data/c/responses.sqlite", moved.location());
    assertFalse(MoaaConfig.parse(GOOD, Map.of("KEY_A", "k", "MOAA_CACHE_DIR", "none")::get).cache().enabled());
  }

  @Test
  void badCacheBudgetOrLimitSettings_nameTheField() {
    failsAt(GOOD + "cache: {backend: memcached}\n", "cache.backend", "sqlite, redis or none");
    failsAt(GOOD + "cache: {backend: redis}\n", "cache.url", "missing required field");
    failsAt(GOOD + "cache: {url: \"redis://user:secret@127.0.0.1:6379\"}\n", "cache", "environment variable");
    failsAt(GOOD + "cache: {url: \"redis://127.0.0.1:6379\", password_env: NOT_SET}\n", "cache.password_env", "not set");
    failsAt(GOOD + "budget: {max_cost_usd: 5}\n", "models.b.price", "needs a price on every model");
    failsAt(GOOD + "budget: {max_dollars: 5}\n", "budget.max_dollars", "unknown field");
    failsAt(GOOD.replace("max_concurrency: 8}", "max_concurrency: 8, requests_per_minute: -1}"),
        "models.a.requests_per_minute", "integer");
    failsAt(GOOD.replace("max_concurrency: 8}", "max_concurrency: 8, adaptive_concurrency: maybe}"),
        "models.a.adaptive_concurrency", "true or false");
    failsAt(GOOD.replace("api_key_env: KEY_A,", "api_key_env: KEY_A, api_key_file: /nonexistent/key,"),
        "models.a", "keep one");
    failsAt(GOOD.replace("model: model-b,", "model: model-b, api_key_file: /nonexistent/key,"),
        "models.b.api_key_file", "cannot read");
  }

  @Test
  void anApiKeyFile_isReadWhenTheClientStarts_andOnlyItsPathIsKept(@TempDir Path dir) throws Exception {
    Path key = dir.resolve("key.txt");
    Files.writeString(key, "sk-from-a-file\n");
    MoaaConfig c = parse(GOOD.replace("model: model-b,", "model: model-b, api_key_file: \"" + key + "\","));
    assertEquals(key.toString(), c.models().get("b").apiKeyFile());
    assertEquals("sk-from-a-file", c.models().get("b").resolveApiKey());
  }

  @Test
  void cleanSection_defaultsToNearDedupAndDecontamination_andChecksEveryField(@TempDir Path dir) throws Exception {
    dev.moaa.transforms.clean.CleanSpec d = parse(GOOD).clean();
    assertEquals(dev.moaa.transforms.clean.DedupMode.NEAR, d.dedup());
    assertTrue(d.decontaminate());
    assertEquals(java.util.List.of("alpaca_eval", "arena_hard", "mt_bench"), d.benchmarks());
    dev.moaa.transforms.clean.CleanSpec off = parse(GOOD + "clean: {dedup: off, decontaminate: false}\n").clean();
    assertEquals(dev.moaa.transforms.clean.DedupMode.OFF, off.dedup());
    failsAt(GOOD + "clean: {dedup: fuzzy}\n", "clean.dedup", "exact, near or off");
    failsAt(GOOD + "clean: {near_threshold: 1.5}\n", "clean.near_threshold", "from 0.5 to 1");
    failsAt(GOOD + "clean: {ngram: 0}\n", "clean.ngram", "from 1 to 50");
    failsAt(GOOD + "clean: {benchmarks: [mt_bench, mmlu]}\n", "clean.benchmarks[1]", "unknown benchmark");
    failsAt(GOOD + "clean: {decontaminate: 'yes'}\n", "clean.decontaminate", "true or false");
    failsAt(GOOD + "clean: {benchmarks: []}\n", "clean", "no benchmark");
    failsAt(GOOD + "clean: {min_words: 3}\n", "clean.min_words", "unknown field");
    Path extra = dir.resolve("house_eval.jsonl");
    Files.writeString(extra, "{\"prompt\": \"Name three rivers that flow north and explain why.\", \"id\": \"q1\"}\n");
    dev.moaa.transforms.clean.CleanSpec withExtra = MoaaConfig.parse(GOOD + "clean: {extra_benchmarks: [house_eval.jsonl]}\n",
        Map.of("KEY_A", "k")::get, dir).clean();
    assertEquals("house_eval:q1", withExtra.extraPrompts().get(0).reference());
    Files.writeString(dir.resolve("bad.jsonl"), "{\"text\": \"no prompt field\"}\n");
    ConfigException e = assertThrows(ConfigException.class, () -> MoaaConfig.parse(
        GOOD + "clean: {extra_benchmarks: [house_eval.jsonl, bad.jsonl]}\n", Map.of("KEY_A", "k")::get, dir));
    assertEquals("clean.extra_benchmarks[1]", e.path());
    assertTrue(e.getMessage().contains("line 1"), e.getMessage());
  }

  @Test
  void aBatchModel_hasItsBatchSettingsAndIsBilledAtTheBatchPrice() {
    MoaaConfig c = parse(GOOD.replace("b: {model: model-b,", "b: {model: model-b, execution: batch,"
        + " batch: {price_factor: 0.4, max_requests: 500, poll_ms: 1000},"));
    dev.moaa.transforms.client.BatchSettings b = c.models().get("b").batch();
    assertEquals(0.4, b.priceFactor());
    assertEquals(500, b.maxRequests());
    assertEquals(1000, b.pollMs());
    assertEquals(2000, b.flushMs(), "defaults fill what is not given");
    assertEquals(null, c.models().get("a").batch(), "online by default");
    assertEquals(0.4 * 1.5, c.models().get("b").toBuilder().inputPricePerMillion(1.5).build().costUsd(1_000_000, 0), 1e-12);
    assertEquals(1.5, c.models().get("a").costUsd(1_000_000, 0), 1e-12);
    failsAt(GOOD.replace("b: {model: model-b,", "b: {model: model-b, execution: offline,"), "models.b.execution",
        "online or batch");
    failsAt(GOOD.replace("b: {model: model-b,", "b: {model: model-b, execution: online, batch: {poll_ms: 5},"),
        "models.b.batch", "execution: batch");
    failsAt(GOOD.replace("b: {model: model-b,", "b: {model: model-b, execution: batch, batch: {max_requests: 60000},"),
        "models.b.batch.max_requests", "from 1 to 50000");
  }

  @Test
  void theLoopSection_readsRoundsRolesAndTheHeadToHead(@org.junit.jupiter.api.io.TempDir Path dir) {
    String loop = GOOD + "loop: {output: out, sft_input: in.jsonl, rounds: 3, join_as: [proposer, aggregator],"
        + " train_from: previous, compare: {bench: mt_bench, limit: 20}}\n";
    LoopSettings l = MoaaConfig.parse(loop, Map.of("KEY_A", "sk")::get, dir).loop().orElseThrow();
    assertEquals(3, l.rounds());
    assertEquals(List.of("proposer", "aggregator"), l.joinAs());
    assertTrue(l.trainFromPrevious() && l.compare());
    assertEquals("mt_bench", l.compareBench());
    assertEquals(20, l.compareLimit());
    LoopSettings plain = MoaaConfig.parse(GOOD + "loop: {output: out}\n", Map.of("KEY_A", "sk")::get, dir).loop()
        .orElseThrow();
    assertEquals(1, plain.rounds());
    assertEquals(List.of("proposer"), plain.joinAs());
    assertFalse(plain.trainFromPrevious());
    failsAt(GOOD + "loop: {rounds: 0}\n", "loop.rounds", "from 1 to 100");
    failsAt(GOOD + "loop: {join_as: [judge]}\n", "loop.join_as", "proposer and aggregator");
    failsAt(GOOD + "loop: {train_from: scratch}\n", "loop.train_from", "base or previous");
  }

  @Test
  void shards_defaultToTwo_andTheConfigSaysWhetherItSetThem() {
    MoaaConfig unset = parse(GOOD);
    assertEquals(MoaaConfig.DEFAULT_SHARDS, unset.shards());
    assertTrue(!unset.shardsSet(), "a large corpus may then get more");
    MoaaConfig set = parse(GOOD + "output: {shards: 2}\n");
    assertEquals(2, set.shards());
    assertTrue(set.shardsSet(), "a count the user wrote is kept, even the default one");
  }
}
