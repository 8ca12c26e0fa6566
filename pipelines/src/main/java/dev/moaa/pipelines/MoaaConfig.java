package dev.moaa.pipelines;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.moaa.prompts.PromptTemplate;
import dev.moaa.transforms.budget.BudgetSpec;
import dev.moaa.transforms.cache.CacheSpec;
import dev.moaa.transforms.limits.Coordination;
import dev.moaa.transforms.client.BatchSettings;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.AdaptiveLimit;
import dev.moaa.transforms.client.RateLimits;
import dev.moaa.transforms.client.RetryPolicy;
import dev.moaa.transforms.clean.CleanSpec;
import dev.moaa.transforms.dpo.DpoTopology;
import dev.moaa.transforms.dpo.JudgeMode;
import dev.moaa.transforms.dpo.ScoringMethod;
import dev.moaa.transforms.input.ConversationParser;
import dev.moaa.transforms.input.InputFormat;
import dev.moaa.transforms.moa.MoaTopology;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The one YAML file of a run: named models and the MoA topology. Everything is validated here,
 * before a pipeline is built; every error names the field at fault. The file holds the
 * <em>names</em> of environment variables with API keys, never keys, so its hash can be recorded.
 *
 * <pre>
 * models:
 *   NAME: {base_url, model, api_key_env? | api_key_file?, temperature?, top_p?, max_tokens?, seed?,
 *          stop?, max_concurrency?, requests_per_minute?, tokens_per_minute?,
 *          adaptive_concurrency?, initial_concurrency?, backoff_factor?, connect_timeout_ms?, read_timeout_ms?,
 *          retry: {max_attempts, initial_backoff_ms, max_backoff_ms}?,
 *          price: {input_per_million, output_per_million}?,
 *          execution: online|batch?, batch: {price_factor?, max_requests?, flush_ms?, poll_ms?,
 *          max_submissions?}?}                                 # batch: the provider's Batch API
 * defaults: {any model field}            # applied under every model's own fields
 * sft: {proposers: [NAME…], aggregator: NAME, layers?, min_proposals?, max_turns?,
 *       accept_truncated?, templates: {proposer?, aggregator?}?}
 * dpo: {policy: NAME, k?, temperature?, use_n?, seed?, max_turns?,
 *       judge: {mode: moa|jury|single, judges: [NAME…], aggregator: NAME (moa),
 *               criteria: {enabled?, count?, model?}?, scoring: win_rate|bradley_terry?, min_margin?}}
 * input: {format?, max_prompt_chars?}
 * output: {shards?, license?, pretty_name?}   # license and pretty_name go into the dataset card (README.md)
 * cache: {backend: sqlite|redis|none?, path? (sqlite), url? (redis://host:port[/db]),
 *         password_env? (redis), lock_ttl_ms? (redis)}   # default: sqlite in $MOAA_CACHE_DIR or ~/.cache/moaa
 * budget: {max_cost_usd?, max_tokens?, assumed_completion_tokens?}
 * coordination: {backend: redis|none?, url?, password_env?, key?, lease_ttl_ms?, share_budget?}
 *         # default: redis (the cache's url and password_env) when the cache is on Redis, else none
 * clean: {dedup?, near_threshold?, decontaminate?, benchmarks?, extra_benchmarks?, ngram?,
 *         contamination_threshold?}   # before any model call: CleanSettings
 * train: {…}  serve: {…}  loop: {…}     # training, serving and `moaa run`: TrainSettings, ServeSettings, LoopSettings
 * </pre>
 */
public final class MoaaConfig {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final ObjectMapper CANONICAL =
      new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

  private static final Set<String> TOP = Set.of("models", "defaults", "sft", "dpo", "input", "output",
      "cache", "budget", "coordination", "train", "serve", "loop", "clean");
  private static final Set<String> DPO = Set.of("policy", "k", "temperature", "use_n", "seed", "judge", "max_turns");
  private static final Set<String> JUDGE = Set.of("mode", "judges", "aggregator", "criteria", "scoring", "min_margin");
  private static final Set<String> CRITERIA = Set.of("enabled", "count", "model");
  private static final Set<String> MODEL = Set.of("base_url", "model", "api_key_env", "temperature",
      "top_p", "max_tokens", "seed", "stop", "max_concurrency", "connect_timeout_ms",
      "read_timeout_ms", "retry", "price", "api_key_file", "requests_per_minute", "tokens_per_minute",
      "adaptive_concurrency", "initial_concurrency", "backoff_factor", "adaptive_mode", "latency_tolerance",
      "latency_window", "revision", "max_completion_tokens",
      "reasoning_effort", "keep_reasoning", "max_failure_share", "execution", "batch");
  private static final Set<String> BATCH = Set.of("price_factor", "max_requests", "flush_ms", "poll_ms",
      "max_submissions");
  private static final Set<String> CACHE = Set.of("backend", "path", "url", "password_env", "lock_ttl_ms");
  private static final Set<String> COORDINATION = Set.of("backend", "url", "password_env", "key", "lease_ttl_ms",
      "share_budget");
  private static final Set<String> BUDGET = Set.of("max_cost_usd", "max_tokens", "assumed_completion_tokens");
  /** The folder of the default cache file; {@code none} turns the default cache off. */
  public static final String CACHE_DIR_ENV = "MOAA_CACHE_DIR";
  private static final Set<String> RETRY = Set.of("max_attempts", "initial_backoff_ms", "max_backoff_ms",
      "max_rate_limit_wait_ms");
  private static final Set<String> PRICE = Set.of("input_per_million", "output_per_million");
  private static final Set<String> SFT = Set.of("proposers", "aggregator", "layers", "min_proposals",
      "max_turns", "accept_truncated", "templates");
  private static final Set<String> TEMPLATES = Set.of("proposer", "aggregator");
  private static final Set<String> INPUT = Set.of("format", "max_prompt_chars");
  private static final Set<String> OUTPUT = Set.of("shards", "license", "pretty_name");

  private final Map<String, ModelEndpoint> models;
  private final MoaTopology sft;
  private final DpoTopology dpo;
  private final boolean hasPolicy;
  private final int dpoMaxTurns;
  private final InputFormat inputFormat;
  private final int maxPromptChars;
  private final int shards;
  private final String hash;
  private final CacheSpec cache;
  private final BudgetSpec budget;
  private Coordination coordination;
  private boolean shareBudget;
  private final TrainSettings train;
  private final ServeSettings serve;
  private final LoopSettings loop;
  private final CleanSpec clean;
  private String sourceYaml;
  private Function<String, String> sourceEnv;
  private Path sourceBase;
  private String cardLicense = "other";
  private String cardPrettyName;

  private MoaaConfig(Map<String, ModelEndpoint> models, MoaTopology sft, DpoTopology dpo, boolean hasPolicy, int dpoMaxTurns,
      InputFormat inputFormat, int maxPromptChars, int shards, String hash, CacheSpec cache, BudgetSpec budget,
      TrainSettings train, ServeSettings serve, LoopSettings loop, CleanSpec clean) {
    this.cache = cache;
    this.budget = budget;
    this.models = models;
    this.sft = sft;
    this.dpo = dpo;
    this.hasPolicy = hasPolicy;
    this.dpoMaxTurns = dpoMaxTurns;
    this.inputFormat = inputFormat;
    this.maxPromptChars = maxPromptChars;
    this.shards = shards;
    this.hash = hash;
    this.train = train;
    this.serve = serve;
    this.loop = loop;
    this.clean = clean;
  }

  public static MoaaConfig load(Path file) {
    try {
      return parse(Files.readString(file, StandardCharsets.UTF_8), System::getenv, file.toAbsolutePath().getParent());
    } catch (IOException e) {
      throw new ConfigException("--config", "cannot read " + file + ": " + e.getMessage());
    }
  }

  /** Parses and validates; {@code env} looks up environment variables (API keys must be set). */
  public static MoaaConfig parse(String yaml, Function<String, String> env) {
    return parse(yaml, env, Paths.get("").toAbsolutePath());
  }

  /** As {@link #parse(String, Function)}; relative paths in the file are resolved against {@code baseDir}. */
  public static MoaaConfig parse(String yaml, Function<String, String> env, Path baseDir) {
    return parse(yaml, env, baseDir, null);
  }

  /** What binds a config's budget to one output folder: see {@link #forFolder}. */
  private record Folder(String runId, String launch, String ledgerDir) {}

  /**
   * This config bound to an output folder: every model's budget carries the folder's run id (the
   * same on every rerun, resume and restart, so the budget is the folder's), this command's launch
   * id and the folder of the call ledger ({@code ledgerDir}, an absolute local path; null for none).
   * The file is read again, so the models and topologies are built with the binding; the hash is
   * the same.
   */
  public MoaaConfig forFolder(String runId, String launch, String ledgerDir) {
    if (sourceYaml == null) {
      throw new IllegalStateException("this config was not parsed from a file");
    }
    return parse(sourceYaml, sourceEnv, sourceBase, new Folder(runId, launch, ledgerDir));
  }

  private static MoaaConfig parse(String yaml, Function<String, String> env, Path baseDir, Folder folder) {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JsonProcessingException e) {
      throw new ConfigException("(file)", "not valid YAML: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()));
    }
    if (root == null || !root.isObject()) {
      throw new ConfigException("(file)", "expected a mapping with 'models' and 'sft'");
    }
    onlyKnown(root, "", TOP);
    JsonNode modelsNode = required(root, "models", "");
    if (!modelsNode.isObject() || modelsNode.isEmpty()) {
      throw new ConfigException("models", "must be a mapping of at least one model name to its settings");
    }
    JsonNode defaults = root.path("defaults");
    if (!defaults.isMissingNode()) {
      if (!defaults.isObject()) {
        throw new ConfigException("defaults", "must be a mapping of model fields");
      }
      onlyKnown(defaults, "defaults", MODEL);
    }
    CacheSpec cache = cache(root.path("cache"), env);
    BudgetSpec budget = budget(root.path("budget"));
    if (folder != null) {
      budget = budget.forFolder(folder.runId(), folder.launch(), folder.ledgerDir());
    }
    Coordinated coordinated = coordination(root.path("coordination"), cache, env);
    Map<String, ModelEndpoint> models = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = modelsNode.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String path = "models." + e.getKey();
      if (!e.getValue().isObject()) {
        throw new ConfigException(path, "must be a mapping of model settings");
      }
      ObjectNode merged = defaults.isObject() ? ((ObjectNode) defaults).deepCopy() : YAML.createObjectNode();
      onlyKnown(e.getValue(), path, MODEL);
      e.getValue().fields().forEachRemaining(f -> merged.set(f.getKey(), f.getValue()));
      models.put(e.getKey(), model(e.getKey(), merged, path, env).withRunServices(cache, budget,
          coordinated.spec(), coordinated.shareBudget()));
    }
    if (budget.maxCostUsd() > 0) {
      for (ModelEndpoint m : models.values()) {
        if (m.inputPricePerMillion() == 0 && m.outputPricePerMillion() == 0) {
          throw new ConfigException("models." + m.name() + ".price",
              "budget.max_cost_usd needs a price on every model (or use budget.max_tokens)");
        }
      }
    }

    MoaTopology sft = null;
    JsonNode sftNode = root.path("sft");
    if (!sftNode.isMissingNode()) {
      sft = topology(sftNode, models);
    }
    DpoTopology dpo = null;
    int dpoMaxTurns = 16;
    JsonNode dpoNode = root.path("dpo");
    if (!dpoNode.isMissingNode()) {
      dpo = dpoTopology(dpoNode, models);
      dpoMaxTurns = intIn(dpoNode, "max_turns", "dpo", 1, 256, dpoMaxTurns);
    }
    JsonNode input = root.path("input");
    InputFormat format = InputFormat.AUTO;
    int maxPromptChars = 200_000;
    if (!input.isMissingNode()) {
      onlyKnown(input, "input", INPUT);
      if (input.has("format")) {
        String f = text(input, "format", "input");
        try {
          format = InputFormat.parse(f);
        } catch (IllegalArgumentException ex) {
          throw new ConfigException("input.format", ex.getMessage());
        }
      }
      maxPromptChars = intIn(input, "max_prompt_chars", "input", 1, Integer.MAX_VALUE, maxPromptChars);
    }
    JsonNode output = root.path("output");
    int shards = 0; // not set: DEFAULT_SHARDS, or more for a large corpus (the command decides)
    String license = "other";
    String prettyName = null;
    if (!output.isMissingNode()) {
      onlyKnown(output, "output", OUTPUT);
      shards = intIn(output, "shards", "output", 1, 10_000, shards);
      if (output.has("license")) {
        license = text(output, "license", "output");
        if (!license.matches("[a-z0-9][a-z0-9.+-]*")) {
          throw new ConfigException("output.license", "must be a Hugging Face licence id such as apache-2.0,"
              + " cc-by-4.0, mit or other; got '" + license + "'");
        }
      }
      if (output.has("pretty_name")) {
        prettyName = text(output, "pretty_name", "output");
      }
    }
    boolean hasPolicy = dpoNode.has("policy");
    MoaaConfig config = new MoaaConfig(Map.copyOf(models), sft, dpo, hasPolicy, dpoMaxTurns, format, maxPromptChars, shards,
        hash(root), cache, budget, TrainSettings.parse(root.path("train"), baseDir), ServeSettings.parse(root.path("serve")),
        LoopSettings.parse(root.path("loop"), baseDir),
        CleanSettings.parse(root.path("clean"), baseDir));
    config.cardLicense = license;
    config.cardPrettyName = prettyName;
    config.coordination = coordinated.spec();
    config.shareBudget = coordinated.shareBudget();
    config.sourceYaml = yaml;
    config.sourceEnv = env;
    config.sourceBase = baseDir;
    return config;
  }

  private static CacheSpec cache(JsonNode n, Function<String, String> env) {
    if (n.isMissingNode()) {
      String dir = env.apply(CACHE_DIR_ENV);
      if ("none".equals(dir)) {
        return CacheSpec.none();
      }
      Path base = dir != null && !dir.isBlank() ? Path.of(dir)
          : Path.of(System.getProperty("user.home"), ".cache", "moaa");
      return CacheSpec.sqlite(base.resolve("responses.sqlite").toString());
    }
    onlyKnown(n, "cache", CACHE);
    String backend = n.has("backend") ? text(n, "backend", "cache") : n.has("url") ? "redis" : "sqlite";
    try {
      CacheSpec spec = switch (backend) {
        case "none" -> CacheSpec.none();
        case "sqlite" -> {
          if (n.has("url") || n.has("password_env")) {
            throw new ConfigException("cache", "url and password_env belong to backend: redis");
          }
          String dir = env.apply(CACHE_DIR_ENV);
          String dflt = Path.of(dir != null && !dir.isBlank() && !"none".equals(dir) ? dir
              : Path.of(System.getProperty("user.home"), ".cache", "moaa").toString(), "responses.sqlite").toString();
          yield CacheSpec.sqlite(n.has("path") ? text(n, "path", "cache") : dflt);
        }
        case "redis" -> {
          String var = null;
          if (n.has("password_env")) {
            var = text(n, "password_env", "cache");
            if (!var.matches("[A-Za-z_][A-Za-z0-9_]*")) {
              throw new ConfigException("cache.password_env", "must be the NAME of an environment variable");
            }
            String value = env.apply(var);
            if (value == null || value.isEmpty()) {
              throw new ConfigException("cache.password_env", "environment variable " + var + " is not set");
            }
          }
          yield CacheSpec.redis(text(required(n, "url", "cache"), "url", "cache"), var);
        }
        default -> throw new ConfigException("cache.backend", "must be sqlite, redis or none, got '" + backend + "'");
      };
      if (n.has("lock_ttl_ms")) {
        spec = spec.withLockTtlMs(intIn(n, "lock_ttl_ms", "cache", 100, 3_600_000, 30_000));
      }
      return spec;
    } catch (IllegalArgumentException e) {
      throw new ConfigException("cache", e.getMessage());
    }
  }

  /** The parsed {@code coordination:} section: the store (null: limits and budget per JVM) and whether runs share the ledger. */
  private record Coordinated(Coordination spec, boolean shareBudget) {}

  private static Coordinated coordination(JsonNode n, CacheSpec cache, Function<String, String> env) {
    boolean cacheOnRedis = cache.backend() == CacheSpec.Backend.REDIS;
    if (n.isMissingNode() || n.isNull()) {
      if (!cacheOnRedis) {
        return new Coordinated(null, false);
      }
      try {
        Coordination c = Coordination.redis(cache.location(), "moaa");
        return new Coordinated(cache.passwordEnv() == null ? c : c.withPasswordEnv(cache.passwordEnv()), false);
      } catch (IllegalArgumentException e) {
        throw new ConfigException("coordination", "the default store is the cache's Redis: " + e.getMessage());
      }
    }
    onlyKnown(n, "coordination", COORDINATION);
    String backend = n.has("backend") ? text(n, "backend", "coordination")
        : n.has("url") || cacheOnRedis ? "redis" : "none";
    boolean share = false;
    if (n.has("share_budget")) {
      JsonNode v = n.get("share_budget");
      if (!v.isBoolean()) {
        throw new ConfigException("coordination.share_budget", "must be true or false, got " + v);
      }
      share = v.asBoolean();
    }
    switch (backend) {
      case "none" -> {
        for (String f : List.of("url", "password_env", "key", "lease_ttl_ms", "share_budget")) {
          if (n.has(f)) {
            throw new ConfigException("coordination." + f, "belongs to backend: redis (the backend is none)");
          }
        }
        return new Coordinated(null, false);
      }
      case "redis" -> {
        String url;
        String var;
        if (n.has("url")) {
          url = text(n, "url", "coordination");
          var = null;
        } else if (cacheOnRedis) {
          url = cache.location();
          var = cache.passwordEnv();
        } else {
          throw new ConfigException("coordination.url", "missing required field (backend redis, and the cache is"
              + " not on Redis to share its url)");
        }
        if (n.has("password_env")) {
          var = text(n, "password_env", "coordination");
          if (!var.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new ConfigException("coordination.password_env", "must be the NAME of an environment variable");
          }
          String value = env.apply(var);
          if (value == null || value.isEmpty()) {
            throw new ConfigException("coordination.password_env", "environment variable " + var + " is not set");
          }
        }
        Coordination c;
        try {
          c = Coordination.redis(url, "moaa");
        } catch (IllegalArgumentException e) {
          throw new ConfigException("coordination.url", e.getMessage());
        }
        if (n.has("key")) {
          try {
            c = c.withKey(text(n, "key", "coordination"));
          } catch (IllegalArgumentException e) {
            throw new ConfigException("coordination.key", e.getMessage());
          }
        }
        if (n.has("lease_ttl_ms")) {
          c = c.withLeaseTtl(java.time.Duration.ofMillis(
              intIn(n, "lease_ttl_ms", "coordination", 200, 3_600_000, 10_000)));
        }
        if (var != null) {
          c = c.withPasswordEnv(var);
        }
        return new Coordinated(c, share);
      }
      default -> throw new ConfigException("coordination.backend", "must be redis or none, got '" + backend + "'");
    }
  }

  private static BudgetSpec budget(JsonNode n) {
    if (n.isMissingNode()) {
      return BudgetSpec.unlimited();
    }
    onlyKnown(n, "budget", BUDGET);
    double cost = n.has("max_cost_usd") ? number(n, "max_cost_usd", "budget", 0, 1e9) : 0;
    long tokens = 0;
    if (n.has("max_tokens")) {
      JsonNode v = n.get("max_tokens");
      if (!v.isIntegralNumber() || v.asLong() < 0) {
        throw new ConfigException("budget.max_tokens", "must be a whole number of tokens, got " + v);
      }
      tokens = v.asLong();
    }
    int assumed = intIn(n, "assumed_completion_tokens", "budget", 1, 10_000_000, 4096);
    return BudgetSpec.of(cost, tokens, assumed);
  }

  private static ModelEndpoint model(String name, JsonNode n, String path, Function<String, String> env) {
    String baseUrl = text(required(n, "base_url", path), "base_url", path);
    try {
      URI u = URI.create(baseUrl);
      if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme()) || u.getHost() == null) {
        throw new IllegalArgumentException();
      }
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path + ".base_url", "'" + baseUrl + "' is not an http(s) URL");
    }
    String modelId = text(required(n, "model", path), "model", path);
    ModelEndpoint.Builder b = ModelEndpoint.builder(name, baseUrl, modelId);
    if (n.has("api_key_env")) {
      String var = text(n, "api_key_env", path);
      if (!var.matches("[A-Za-z_][A-Za-z0-9_]*")) {
        throw new ConfigException(path + ".api_key_env", "must be the NAME of an environment variable");
      }
      String value = env.apply(var);
      if (value == null || value.isBlank()) {
        throw new ConfigException(path + ".api_key_env", "environment variable " + var + " is not set");
      }
      b.apiKeyEnv(var);
    }
    if (n.has("revision")) {
      b.revision(text(n, "revision", path));
    }
    if (n.has("api_key_file")) {
      if (n.has("api_key_env")) {
        throw new ConfigException(path, "names both api_key_env and api_key_file; keep one");
      }
      String file = text(n, "api_key_file", path);
      if (!Files.isReadable(Path.of(file))) {
        throw new ConfigException(path + ".api_key_file", "cannot read " + file);
      }
      b.apiKeyFile(file);
    }
    if (n.has("temperature")) {
      b.temperature(number(n, "temperature", path, 0, 2));
    }
    if (n.has("top_p")) {
      b.topP(number(n, "top_p", path, 0, 1));
    }
    if (n.has("max_tokens")) {
      b.maxTokens(intIn(n, "max_tokens", path, 1, 10_000_000, 0));
    }
    if (n.has("max_completion_tokens")) {
      b.maxCompletionTokens(intIn(n, "max_completion_tokens", path, 1, 10_000_000, 0));
    }
    if (n.has("reasoning_effort")) {
      b.reasoningEffort(text(n, "reasoning_effort", path));
    }
    if (n.has("keep_reasoning")) {
      if (!n.get("keep_reasoning").isBoolean()) {
        throw new ConfigException(path + ".keep_reasoning", "must be true or false");
      }
      b.keepReasoning(n.get("keep_reasoning").asBoolean());
    }
    if (n.has("max_failure_share")) {
      b.maxFailureShare(number(n, "max_failure_share", path, 0, 1));
    }
    String execution = n.has("execution") ? text(n, "execution", path) : "online";
    if (execution.equals("batch")) {
      BatchSettings d = BatchSettings.defaults();
      JsonNode bn = n.has("batch") ? n.get("batch") : JsonNodeFactory.instance.objectNode();
      onlyKnown(bn, path + ".batch", BATCH);
      double factor = bn.has("price_factor") ? number(bn, "price_factor", path + ".batch", 0.01, 1) : d.priceFactor();
      b.batch(new BatchSettings(factor,
          intIn(bn, "max_requests", path + ".batch", 1, BatchSettings.MAX_REQUESTS, d.maxRequests()),
          intIn(bn, "flush_ms", path + ".batch", 0, 3_600_000, (int) d.flushMs()),
          intIn(bn, "poll_ms", path + ".batch", 1, 3_600_000, (int) d.pollMs()),
          intIn(bn, "max_submissions", path + ".batch", 1, 100, d.maxSubmissions())));
    } else if (!execution.equals("online")) {
      throw new ConfigException(path + ".execution", "must be online or batch, got '" + execution + "'");
    } else if (n.has("batch") && n.has("execution")) {
      throw new ConfigException(path + ".batch", "batch settings need execution: batch");
    }
    if (n.has("seed")) {
      if (!n.get("seed").canConvertToLong()) {
        throw new ConfigException(path + ".seed", "must be an integer");
      }
      b.seed(n.get("seed").asLong());
    }
    if (n.has("stop")) {
      JsonNode stop = n.get("stop");
      if (!stop.isArray()) {
        throw new ConfigException(path + ".stop", "must be a list of strings");
      }
      List<String> s = new ArrayList<>();
      stop.forEach(x -> s.add(x.asText()));
      b.stop(s);
    }
    int maxConcurrency = intIn(n, "max_concurrency", path, 1, 4096, 16);
    b.maxConcurrency(maxConcurrency);
    RateLimits rl = RateLimits.defaults();
    long tpm = 0;
    if (n.has("tokens_per_minute")) {
      JsonNode v = n.get("tokens_per_minute");
      if (!v.isIntegralNumber() || v.asLong() < 1) {
        throw new ConfigException(path + ".tokens_per_minute", "must be a positive whole number, got " + v);
      }
      tpm = v.asLong();
    }
    JsonNode adaptive = n.path("adaptive_concurrency");
    if (!adaptive.isMissingNode() && !adaptive.isBoolean()) {
      throw new ConfigException(path + ".adaptive_concurrency", "must be true or false");
    }
    try {
      AdaptiveLimit al = rl.adaptiveLimit();
      if (n.has("adaptive_mode")) {
        al = al.withMode(AdaptiveLimit.Mode.parse(text(n, "adaptive_mode", path)));
      }
      if (n.has("latency_tolerance")) {
        al = al.withTolerance(number(n, "latency_tolerance", path, 1.01, 10));
      }
      if (n.has("latency_window")) {
        al = al.withWindow(intIn(n, "latency_window", path, 4, 10_000, al.window()));
      }
      b.rateLimits(RateLimits.of(intIn(n, "requests_per_minute", path, 1, 100_000_000, 0), tpm,
          adaptive.asBoolean(rl.adaptive()),
          n.has("backoff_factor") ? number(n, "backoff_factor", path, 0.01, 0.99) : rl.backoffFactor(),
          intIn(n, "initial_concurrency", path, 1, maxConcurrency, Math.min(maxConcurrency, rl.initialConcurrency())))
          .withAdaptiveLimit(al));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path, e.getMessage());
    }
    b.connectTimeoutMs(intIn(n, "connect_timeout_ms", path, 1, 600_000, 10_000));
    b.readTimeoutMs(intIn(n, "read_timeout_ms", path, 1, 3_600_000, 120_000));
    if (n.has("retry")) {
      JsonNode r = n.get("retry");
      String rp = path + ".retry";
      onlyKnown(r, rp, RETRY);
      RetryPolicy d = RetryPolicy.defaults();
      try {
        b.retry(RetryPolicy.of(intIn(r, "max_attempts", rp, 1, 100, d.maxAttempts()),
            intIn(r, "initial_backoff_ms", rp, 0, 3_600_000, (int) d.initialBackoffMs()),
            intIn(r, "max_backoff_ms", rp, 0, 3_600_000, (int) d.maxBackoffMs()),
            intIn(r, "max_rate_limit_wait_ms", rp, 0, 86_400_000, (int) d.maxRateLimitWaitMs())));
      } catch (IllegalArgumentException e) {
        throw new ConfigException(rp, e.getMessage());
      }
    }
    if (n.has("price")) {
      JsonNode p = n.get("price");
      onlyKnown(p, path + ".price", PRICE);
      if (p.has("input_per_million")) {
        b.inputPricePerMillion(number(p, "input_per_million", path + ".price", 0, 1e6));
      }
      if (p.has("output_per_million")) {
        b.outputPricePerMillion(number(p, "output_per_million", path + ".price", 0, 1e6));
      }
    }
    return b.build();
  }

  private static MoaTopology topology(JsonNode n, Map<String, ModelEndpoint> models) {
    onlyKnown(n, "sft", SFT);
    JsonNode props = required(n, "proposers", "sft");
    if (!props.isArray() || props.isEmpty()) {
      throw new ConfigException("sft.proposers", "must be a non-empty list of model names");
    }
    List<ModelEndpoint> proposers = new ArrayList<>();
    for (int i = 0; i < props.size(); i++) {
      proposers.add(known(models, props.get(i).asText(), "sft.proposers[" + i + "]"));
    }
    ModelEndpoint aggregator = known(models, text(required(n, "aggregator", "sft"), "aggregator", "sft"), "sft.aggregator");
    int layers = intIn(n, "layers", "sft", 1, 16, 1);
    int min = intIn(n, "min_proposals", "sft", 1, proposers.size(), (proposers.size() + 1) / 2);
    int maxTurns = intIn(n, "max_turns", "sft", 1, 64, 8);
    boolean acceptTruncated = n.path("accept_truncated").asBoolean(false);
    String refine = PromptTemplate.PROPOSER_REFINE_V1;
    String aggregate = PromptTemplate.AGGREGATOR_V1;
    if (n.has("templates")) {
      JsonNode t = n.get("templates");
      onlyKnown(t, "sft.templates", TEMPLATES);
      refine = t.path("proposer").asText(refine);
      aggregate = t.path("aggregator").asText(aggregate);
    }
    try {
      return MoaTopology.of(proposers, aggregator).withLayers(layers).withMinProposals(min)
          .withMaxTurns(maxTurns).withAcceptTruncated(acceptTruncated).withTemplates(refine, aggregate);
    } catch (IllegalArgumentException e) {
      throw new ConfigException("sft", e.getMessage());
    }
  }

  private static DpoTopology dpoTopology(JsonNode n, Map<String, ModelEndpoint> models) {
    onlyKnown(n, "dpo", DPO);
    // judge-eval needs only the judge; a missing policy is reported when the dpo command needs it
    ModelEndpoint policy = n.has("policy")
        ? known(models, text(n, "policy", "dpo"), "dpo.policy") : null;
    JsonNode j = required(n, "judge", "dpo");
    onlyKnown(j, "dpo.judge", JUDGE);
    JudgeMode mode;
    try {
      mode = JudgeMode.parse(j.path("mode").asText("moa"));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("dpo.judge.mode", e.getMessage());
    }
    JsonNode judgesNode = required(j, "judges", "dpo.judge");
    if (!judgesNode.isArray() || judgesNode.isEmpty()) {
      throw new ConfigException("dpo.judge.judges", "must be a non-empty list of model names");
    }
    List<ModelEndpoint> judges = new ArrayList<>();
    for (int i = 0; i < judgesNode.size(); i++) {
      judges.add(known(models, judgesNode.get(i).asText(), "dpo.judge.judges[" + i + "]"));
    }
    ModelEndpoint lead = null;
    if (j.has("aggregator")) {
      lead = known(models, text(j, "aggregator", "dpo.judge"), "dpo.judge.aggregator");
    } else if (mode == JudgeMode.MOA) {
      throw new ConfigException("dpo.judge.aggregator", "missing required field (moa mode needs a lead judge)");
    }
    if (mode == JudgeMode.SINGLE && judges.size() != 1) {
      throw new ConfigException("dpo.judge.judges", "single mode takes exactly one judge, got " + judges.size());
    }
    try {
      DpoTopology t = DpoTopology.of(policy != null ? policy : judges.get(0), mode, judges, lead)
          .withK(intIn(n, "k", "dpo", 2, 64, 5))
          .withUseN(n.path("use_n").asBoolean(false))
          .withSeedBase(n.path("seed").asLong(0));
      if (n.has("temperature")) {
        t = t.withTemperature(number(n, "temperature", "dpo", 0, 2));
      }
      JsonNode c = j.path("criteria");
      if (!c.isMissingNode()) {
        onlyKnown(c, "dpo.judge.criteria", CRITERIA);
        ModelEndpoint cm = c.has("model") ? known(models, text(c, "model", "dpo.judge.criteria"), "dpo.judge.criteria.model") : null;
        t = t.withCriteria(c.path("enabled").asBoolean(t.criteriaEnabled()),
            intIn(c, "count", "dpo.judge.criteria", 1, 11, t.criteriaCount()), cm);
      }
      if (j.has("scoring")) {
        try {
          t = t.withScoring(ScoringMethod.parse(j.get("scoring").asText()));
        } catch (IllegalArgumentException e) {
          throw new ConfigException("dpo.judge.scoring", e.getMessage());
        }
      }
      if (j.has("min_margin")) {
        t = t.withMinMargin(number(j, "min_margin", "dpo.judge", 0, 1e9));
      }
      return t;
    } catch (IllegalArgumentException e) {
      throw new ConfigException("dpo", e.getMessage());
    }
  }

  private static ModelEndpoint known(Map<String, ModelEndpoint> models, String name, String path) {
    ModelEndpoint m = models.get(name);
    if (m == null) {
      throw new ConfigException(path, "unknown model '" + name + "'; models defined: " + new TreeMap<>(models).keySet());
    }
    return m;
  }

  static void onlyKnown(JsonNode n, String path, Set<String> allowed) {
    if (!n.isObject()) {
      throw new ConfigException(path.isEmpty() ? "(file)" : path, "must be a mapping");
    }
    n.fieldNames().forEachRemaining(f -> {
      if (!allowed.contains(f)) {
        throw new ConfigException(path.isEmpty() ? f : path + "." + f,
            "unknown field; allowed here: " + new java.util.TreeSet<>(allowed));
      }
    });
  }

  static JsonNode required(JsonNode n, String field, String path) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) {
      throw new ConfigException(path.isEmpty() ? field : path + "." + field, "missing required field");
    }
    return v;
  }

  static String text(JsonNode n, String field, String path) {
    JsonNode v = n.isValueNode() ? n : n.get(field);
    if (v == null || !v.isTextual() || v.asText().isBlank()) {
      throw new ConfigException(path + "." + field, "must be a non-empty string");
    }
    return v.asText();
  }

  static int intIn(JsonNode n, String field, String path, int min, int max, int dflt) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < min || v.asInt() > max) {
      throw new ConfigException(path + "." + field, "must be an integer from " + min + " to " + max + ", got " + v);
    }
    return v.asInt();
  }

  private static double number(JsonNode n, String field, String path, double min, double max) {
    JsonNode v = n.get(field);
    if (v == null || !v.isNumber() || v.asDouble() < min || v.asDouble() > max) {
      throw new ConfigException(path + "." + field, "must be a number from " + min + " to " + max + ", got " + v);
    }
    return v.asDouble();
  }

  /**
   * The hash of what decides a run's rows: everything but where answers are cached, the budget,
   * and what happens to the rows afterwards (training, serving, the loop).
   */
  private static String hash(JsonNode root) {
    try {
      ObjectNode content = ((ObjectNode) root).deepCopy();
      for (String section : List.of("cache", "budget", "coordination", "train", "serve", "loop")) {
        content.remove(section);
      }
      Object canonical = CANONICAL.treeToValue(content, Object.class);
      byte[] bytes = CANONICAL.writeValueAsBytes(canonical);
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (IOException | NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Where the run's answers are cached. */
  public CacheSpec cache() {
    return cache;
  }

  /**
   * Where every worker's limits (and the budget ledger) are shared, or null when they are per JVM
   * (on a cluster, per TaskManager).
   */
  public Coordination coordination() {
    return coordination;
  }

  /** Whether every run naming the coordination key shares one budget ledger (else per run). */
  public boolean shareBudget() {
    return shareBudget;
  }

  /** The run's spending limits, with the run's own id. */
  public BudgetSpec budget() {
    return budget;
  }

  public Map<String, ModelEndpoint> models() {
    return models;
  }

  /** The SFT topology; a {@link ConfigException} if the file has no {@code sft} section. */
  public MoaTopology sft() {
    if (sft == null) {
      throw new ConfigException("sft", "missing required section for the sft command");
    }
    return sft;
  }

  /** The DPO settings; a {@link ConfigException} if the file has no {@code dpo} section. */
  public DpoTopology dpo() {
    if (dpo == null) {
      throw new ConfigException("dpo", "missing required section for the dpo command");
    }
    if (!hasPolicy) {
      throw new ConfigException("dpo.policy", "missing required field for the dpo command");
    }
    return dpo;
  }

  /** The judge settings ({@code dpo.judge}), which judge-eval needs without a policy. */
  public DpoTopology judge() {
    if (dpo == null) {
      throw new ConfigException("dpo.judge", "missing required section: judge-eval reads the judge from dpo.judge");
    }
    return dpo;
  }

  /** The row parser for a run: the layout, the prompt-size limit, and the turn limit of the command. */
  public ConversationParser parser(InputFormat format, int maxTurns) {
    return ConversationParser.of(format).withMaxPromptChars(maxPromptChars).withMaxTurns(maxTurns);
  }

  /** Conversations longer than this are refused by {@code moaa dpo}. */
  public int dpoMaxTurns() {
    return dpoMaxTurns;
  }

  public InputFormat inputFormat() {
    return inputFormat;
  }

  public int maxPromptChars() {
    return maxPromptChars;
  }

  /** The shards per output that {@code output.shards} sets, else {@value #DEFAULT_SHARDS}. */
  public int shards() {
    return shards == 0 ? DEFAULT_SHARDS : shards;
  }

  /** Shards per output when the config does not say. */
  public static final int DEFAULT_SHARDS = 2;

  /** Whether the config sets {@code output.shards}. */
  public boolean shardsSet() {
    return shards != 0;
  }

  /** The licence id the dataset card declares ({@code output.license}; {@code other} when not set). */
  public String cardLicense() {
    return cardLicense;
  }

  /** The dataset card's {@code pretty_name} ({@code output.pretty_name}), or null. */
  public String cardPrettyName() {
    return cardPrettyName;
  }

  /** The {@code train:} section, if the file has one. */
  public Optional<TrainSettings> train() {
    return Optional.ofNullable(train);
  }

  /** The {@code serve:} section, if the file has one. */
  public Optional<ServeSettings> serve() {
    return Optional.ofNullable(serve);
  }

  /** What is removed before any model call (the {@code clean:} section, or its defaults). */
  public CleanSpec clean() {
    return clean;
  }

  /** The {@code loop:} section, if the file has one. */
  public Optional<LoopSettings> loop() {
    return Optional.ofNullable(loop);
  }

  /** SHA-256 of the file's content in canonical JSON form (key order and layout do not matter). */
  public String hash() {
    return hash;
  }
}
