package dev.moaa.transforms.cache;

/**
 * Answers already paid for, by call hash, each in its stored form (the client's {@code
 * StoredAnswer}: the cache keeps the bytes and never reads them). Implementations are safe for many threads of one JVM;
 * first writer wins, so every reader of a key sees the same answer. Failures of the store surface
 * as {@link CacheException}: callers treat a failed read as a miss and a failed write as lost
 * savings, never as a failed row.
 */
public interface ResponseCache extends AutoCloseable {

  /** The stored answer, or null when the call was never answered. */
  byte[] get(String key) throws CacheException;

  /** Stores an answer of {@code model} unless one is stored already; durable when this returns. */
  void put(String key, String model, byte[] answer) throws CacheException;

  /**
   * Claims the right to make call {@code key} for a while, so that other processes sharing this
   * cache wait for its answer instead of paying for it too. True when claimed (or when the store
   * is private to this process); false when another process holds the claim.
   */
  default boolean claim(String key) throws CacheException {
    return true;
  }

  /** Gives up a claim taken with {@link #claim}; harmless when none is held. */
  default void unclaim(String key) {}

  /** How many answers are stored. */
  long size() throws CacheException;

  @Override
  void close();

  /** Opens the store a spec names; the caller closes it. */
  static ResponseCache open(CacheSpec spec) throws CacheException {
    return switch (spec.backend()) {
      case SQLITE -> SqliteResponseCache.open(spec.location());
      case REDIS -> RedisResponseCache.open(spec);
      case NONE -> throw new IllegalArgumentException("no cache configured");
    };
  }
}
