package dev.moaa.transforms.client;

import dev.moaa.transforms.budget.BudgetSpec;
import dev.moaa.transforms.cache.CacheSpec;
import dev.moaa.transforms.limits.Coordination;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * One named model behind an OpenAI-compatible endpoint, with its sampling parameters and limits.
 * Holds the <em>name</em> of the environment variable (or the path of the file) with the API key,
 * never the key itself; and the run's response cache and budget, which every call consults.
 */
public final class ModelEndpoint implements Serializable {
  private static final long serialVersionUID = 1L;

  private final String name;
  private final String baseUrl;
  private final String modelId;
  private final String apiKeyEnv;
  private final Double temperature;
  private final Double topP;
  private final Integer maxTokens;
  private final Integer maxCompletionTokens;
  private final String reasoningEffort;
  private final boolean keepReasoning;
  private final double maxFailureShare;
  private final Long seed;
  private final List<String> stop;
  private final int maxConcurrency;
  private final int connectTimeoutMs;
  private final int readTimeoutMs;
  private final RetryPolicy retry;
  private final double inputPricePerMillion;
  private final double outputPricePerMillion;
  private final String apiKeyFile;
  private final String revision;
  private final RateLimits rateLimits;
  private final CacheSpec cache;
  private final BudgetSpec budget;
  private final Coordination coordination;
  private final boolean shareBudget;
  private final BatchSettings batch;

  private ModelEndpoint(Builder b) {
    this.name = Objects.requireNonNull(b.name, "name");
    this.baseUrl = stripSlash(Objects.requireNonNull(b.baseUrl, "base_url"));
    this.modelId = Objects.requireNonNull(b.modelId, "model");
    this.apiKeyEnv = b.apiKeyEnv;
    this.temperature = b.temperature;
    this.topP = b.topP;
    this.maxTokens = b.maxTokens;
    this.maxCompletionTokens = b.maxCompletionTokens;
    this.reasoningEffort = b.reasoningEffort;
    this.keepReasoning = b.keepReasoning;
    this.maxFailureShare = b.maxFailureShare;
    this.seed = b.seed;
    this.stop = List.copyOf(b.stop);
    this.maxConcurrency = b.maxConcurrency;
    this.connectTimeoutMs = b.connectTimeoutMs;
    this.readTimeoutMs = b.readTimeoutMs;
    this.retry = b.retry;
    this.inputPricePerMillion = b.inputPricePerMillion;
    this.outputPricePerMillion = b.outputPricePerMillion;
    this.apiKeyFile = b.apiKeyFile;
    this.revision = b.revision;
    this.rateLimits = b.rateLimits;
    this.cache = b.cache;
    this.budget = b.budget;
    this.coordination = b.coordination;
    this.shareBudget = b.shareBudget;
    this.batch = b.batch;
    if (apiKeyEnv != null && apiKeyFile != null) {
      throw new IllegalArgumentException("model " + name + " names both api_key_env and api_key_file; keep one");
    }
    if (maxConcurrency < 1) {
      throw new IllegalArgumentException("max_concurrency of " + name + " must be at least 1");
    }
  }

  private static String stripSlash(String url) {
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  public static Builder builder(String name, String baseUrl, String modelId) {
    return new Builder(name, baseUrl, modelId);
  }

  public Builder toBuilder() {
    Builder b = new Builder(name, baseUrl, modelId);
    b.apiKeyEnv = apiKeyEnv;
    b.temperature = temperature;
    b.topP = topP;
    b.maxTokens = maxTokens;
    b.maxCompletionTokens = maxCompletionTokens;
    b.reasoningEffort = reasoningEffort;
    b.keepReasoning = keepReasoning;
    b.maxFailureShare = maxFailureShare;
    b.seed = seed;
    b.stop = stop;
    b.maxConcurrency = maxConcurrency;
    b.connectTimeoutMs = connectTimeoutMs;
    b.readTimeoutMs = readTimeoutMs;
    b.retry = retry;
    b.inputPricePerMillion = inputPricePerMillion;
    b.outputPricePerMillion = outputPricePerMillion;
    b.apiKeyFile = apiKeyFile;
    b.revision = revision;
    b.rateLimits = rateLimits;
    b.cache = cache;
    b.budget = budget;
    b.coordination = coordination;
    b.shareBudget = shareBudget;
    b.batch = batch;
    return b;
  }

  public String name() { return name; }
  public String baseUrl() { return baseUrl; }
  public String modelId() { return modelId; }
  /** The environment variable holding the API key, or null for an endpoint without auth. */
  public String apiKeyEnv() { return apiKeyEnv; }
  public Double temperature() { return temperature; }
  public Double topP() { return topP; }
  public Integer maxTokens() { return maxTokens; }
  /** {@code max_completion_tokens}, sent as given (OpenAI's reasoning models take it instead of max_tokens); null when unset. */
  public Integer maxCompletionTokens() { return maxCompletionTokens; }
  /** {@code reasoning_effort}, sent as given; null when unset. */
  public String reasoningEffort() { return reasoningEffort; }
  /** Whether this model's reasoning is written into the answers it contributes (as a think block); off by default. */
  public boolean keepReasoning() { return keepReasoning; }
  /** The share of this model's paid calls that may fail before the run ends non-zero. */
  public double maxFailureShare() { return maxFailureShare; }
  /** The most completion tokens a request may get per choice, or null when the request does not bound it. */
  public Integer completionLimit() {
    return maxCompletionTokens != null ? maxCompletionTokens : maxTokens;
  }
  public Long seed() { return seed; }
  public List<String> stop() { return stop; }
  public int maxConcurrency() { return maxConcurrency; }
  public int connectTimeoutMs() { return connectTimeoutMs; }
  public int readTimeoutMs() { return readTimeoutMs; }
  public RetryPolicy retry() { return retry; }
  /** The online input price per million tokens (a batch model is billed {@link #priceFactor()} of it). */
  public double inputPricePerMillion() { return inputPricePerMillion; }
  /**
   * How this model's calls go through the provider's Batch API; null when they are made online
   * (the default).
   */
  public BatchSettings batch() { return batch; }
  /** What a call costs against the online price: the batch price factor for a batch model, else 1. */
  public double priceFactor() { return batch == null ? 1.0 : batch.priceFactor(); }
  public double outputPricePerMillion() { return outputPricePerMillion; }
  /** The file holding the API key, or null. */
  public String apiKeyFile() { return apiKeyFile; }
  /**
   * What identifies the weights behind the endpoint beyond the model id (null if nothing): part of
   * every call's cache key, so a new checkpoint served under the same name never gets the answers
   * of the old one.
   */
  public String revision() { return revision; }
  public RateLimits rateLimits() { return rateLimits; }
  public CacheSpec cache() { return cache; }
  public BudgetSpec budget() { return budget; }

  /**
   * Where this model's concurrency, rates, Retry-After holds and adaptive limit are shared with
   * every other worker (and every run naming the same key); null when they are per JVM.
   */
  public Coordination coordination() { return coordination; }

  /**
   * Where the budget ledger lives when calls are coordinated: the coordination key itself when
   * {@code share_budget} is on (every run naming the key shares one ledger), else a namespace of
   * this run's own under it. Null when calls are not coordinated.
   */
  public Coordination budgetCoordination() {
    if (coordination == null) {
      return null;
    }
    return shareBudget ? coordination : coordination.withKey(coordination.key() + "/run/" + budget.runId());
  }

  /** Whether every run naming the coordination key shares one budget ledger. */
  public boolean shareBudget() { return shareBudget; }

  /**
   * The name of this model in the coordination store: the config's name plus a short hash of the
   * base URL and model id, so two configs that give different endpoints the same name never share
   * limits, and the same endpoint under two names does not either.
   */
  public String coordinationId() {
    try {
      byte[] h = MessageDigest.getInstance("SHA-256")
          .digest((baseUrl + "|" + modelId).getBytes(StandardCharsets.UTF_8));
      return name + "@" + HexFormat.of().formatHex(h, 0, 5);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** This endpoint with the run's cache and budget. */
  public ModelEndpoint withRunServices(CacheSpec c, BudgetSpec bs) {
    return toBuilder().cache(c).budget(bs).build();
  }

  /**
   * This endpoint with the run's cache, budget and coordination ({@code null}: limits and budget
   * per JVM); {@code shareBudget}: the ledger is shared by every run naming the coordination key.
   */
  public ModelEndpoint withRunServices(CacheSpec c, BudgetSpec bs, Coordination coord, boolean shareBudget) {
    return toBuilder().cache(c).budget(bs).coordination(coord).shareBudget(shareBudget).build();
  }

  /** Estimated cost in USD of the given token counts. */
  public double costUsd(long promptTokens, long completionTokens) {
    return priceFactor() * (promptTokens * inputPricePerMillion + completionTokens * outputPricePerMillion) / 1e6;
  }

  /** Reads the API key from its environment variable or file; null when none is configured. */
  public String resolveApiKey() throws ChatException {
    if (apiKeyFile != null) {
      String key;
      try {
        key = Files.readString(Paths.get(apiKeyFile), StandardCharsets.UTF_8).strip();
      } catch (IOException e) {
        throw new ChatException(ErrorKind.MISSING_API_KEY, 0, -1, 0,
            "cannot read the API key file of model " + name + " (" + apiKeyFile + "): " + e.getClass().getSimpleName());
      }
      if (key.isEmpty()) {
        throw new ChatException(ErrorKind.MISSING_API_KEY, 0, -1, 0,
            "the API key file of model " + name + " (" + apiKeyFile + ") is empty");
      }
      return key;
    }
    if (apiKeyEnv == null) {
      return null;
    }
    String key = System.getenv(apiKeyEnv);
    if (key == null || key.isBlank()) {
      throw new ChatException(ErrorKind.MISSING_API_KEY, 0, -1, 0,
          "environment variable " + apiKeyEnv + " (API key of model " + name + ") is not set");
    }
    return key;
  }

  /** A key identifying the endpoint and its limits, for sharing clients and limiters in a JVM. */
  public String sharingKey() {
    return name + "|" + baseUrl + "|" + modelId + "|" + apiKeyEnv + "|" + apiKeyFile + "|" + maxConcurrency + "|"
        + connectTimeoutMs + "|" + readTimeoutMs + "|" + rateLimits.sharingKey() + "|" + retry + "|"
        + (coordination == null ? "-" : coordination.sharingKey()) + "|" + shareBudget + "|" + batch;
  }

  @Override
  public String toString() {
    return "ModelEndpoint{" + name + " -> " + modelId + " at " + baseUrl + "}";
  }

  /** Builder; defaults: 16 concurrent calls, 10 s connect, 120 s read, {@link RetryPolicy#defaults()}. */
  public static final class Builder {
    private final String name;
    private final String baseUrl;
    private final String modelId;
    private String apiKeyEnv;
    private Double temperature;
    private Double topP;
    private Integer maxTokens;
    private Integer maxCompletionTokens;
    private String reasoningEffort;
    private boolean keepReasoning;
    private double maxFailureShare = 0.5;
    private Long seed;
    private List<String> stop = List.of();
    private int maxConcurrency = 16;
    private int connectTimeoutMs = 10_000;
    private int readTimeoutMs = 120_000;
    private RetryPolicy retry = RetryPolicy.defaults();
    private double inputPricePerMillion;
    private double outputPricePerMillion;
    private String apiKeyFile;
    private String revision;
    private RateLimits rateLimits = RateLimits.defaults();
    private CacheSpec cache = CacheSpec.none();
    private BudgetSpec budget = BudgetSpec.unlimited();
    private Coordination coordination;
    private boolean shareBudget;
    private BatchSettings batch;

    private Builder(String name, String baseUrl, String modelId) {
      this.name = name;
      this.baseUrl = baseUrl;
      this.modelId = modelId;
    }

    public Builder apiKeyEnv(String v) { this.apiKeyEnv = v; return this; }
    public Builder temperature(Double v) { this.temperature = v; return this; }
    public Builder topP(Double v) { this.topP = v; return this; }
    public Builder maxTokens(Integer v) { this.maxTokens = v; return this; }
    public Builder maxCompletionTokens(Integer v) { this.maxCompletionTokens = v; return this; }
    public Builder reasoningEffort(String v) { this.reasoningEffort = v; return this; }
    public Builder keepReasoning(boolean v) { this.keepReasoning = v; return this; }
    public Builder maxFailureShare(double v) { this.maxFailureShare = v; return this; }
    public Builder seed(Long v) { this.seed = v; return this; }
    public Builder stop(List<String> v) { this.stop = v == null ? List.of() : v; return this; }
    public Builder maxConcurrency(int v) { this.maxConcurrency = v; return this; }
    public Builder connectTimeoutMs(int v) { this.connectTimeoutMs = v; return this; }
    public Builder readTimeoutMs(int v) { this.readTimeoutMs = v; return this; }
    public Builder retry(RetryPolicy v) { this.retry = Objects.requireNonNull(v); return this; }
    public Builder inputPricePerMillion(double v) { this.inputPricePerMillion = v; return this; }
    public Builder outputPricePerMillion(double v) { this.outputPricePerMillion = v; return this; }
    public Builder apiKeyFile(String v) { this.apiKeyFile = v; return this; }
    public Builder revision(String v) { this.revision = v; return this; }
    public Builder rateLimits(RateLimits v) { this.rateLimits = Objects.requireNonNull(v); return this; }
    public Builder cache(CacheSpec v) { this.cache = Objects.requireNonNull(v); return this; }
    public Builder budget(BudgetSpec v) { this.budget = Objects.requireNonNull(v); return this; }
    /** Null: limits and budget per JVM. */
    public Builder coordination(Coordination v) { this.coordination = v; return this; }
    public Builder shareBudget(boolean v) { this.shareBudget = v; return this; }
    /** Null: online calls. */
    public Builder batch(BatchSettings v) { this.batch = v; return this; }

    public ModelEndpoint build() {
      return new ModelEndpoint(this);
    }
  }
}
