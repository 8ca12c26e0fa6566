package dev.moaa.transforms.cache;

import java.io.Serializable;
import java.net.URI;
import java.util.Objects;

/**
 * Where a run keeps the answers it paid for. {@link Backend#SQLITE}: one file on local disk, the
 * default; {@link Backend#REDIS}: a Redis server that every worker of a cluster shares. The spec
 * holds the <em>name</em> of the environment variable with a Redis password, never the password.
 */
public final class CacheSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The storage behind the cache. */
  public enum Backend { NONE, SQLITE, REDIS }

  private final Backend backend;
  private final String location;
  private final String passwordEnv;
  private final long lockTtlMs;

  private CacheSpec(Backend backend, String location, String passwordEnv, long lockTtlMs) {
    this.backend = Objects.requireNonNull(backend);
    this.location = location;
    this.passwordEnv = passwordEnv;
    this.lockTtlMs = lockTtlMs;
    if (lockTtlMs < 100) {
      throw new IllegalArgumentException("lock_ttl_ms must be at least 100, got " + lockTtlMs);
    }
  }

  public static CacheSpec none() {
    return new CacheSpec(Backend.NONE, null, null, 30_000);
  }

  /** An SQLite file at {@code path} (created with its folders on first use). */
  public static CacheSpec sqlite(String path) {
    return new CacheSpec(Backend.SQLITE, Objects.requireNonNull(path), null, 30_000);
  }

  /**
   * A Redis server at {@code url} ({@code redis://host:port[/db]} or {@code rediss://} for TLS);
   * the password, if any, is read from {@code passwordEnv} when the cache is opened.
   */
  public static CacheSpec redis(String url, String passwordEnv) {
    URI u = URI.create(url);
    if (!"redis".equals(u.getScheme()) && !"rediss".equals(u.getScheme()) || u.getHost() == null) {
      throw new IllegalArgumentException("a Redis cache needs a redis://host:port or rediss://host:port URL, got " + url);
    }
    if (u.getUserInfo() != null) {
      throw new IllegalArgumentException("the Redis URL must not hold credentials; put the password in an "
          + "environment variable and name it in cache.password_env");
    }
    return new CacheSpec(Backend.REDIS, url, passwordEnv, 30_000);
  }

  /**
   * How long another process waits for this one's answer to a call it is making before making the
   * call itself (Redis only; the lock is renewed while the call runs, so this bounds the wait after
   * a worker died mid-call).
   */
  public CacheSpec withLockTtlMs(long ms) {
    return new CacheSpec(backend, location, passwordEnv, ms);
  }

  public Backend backend() { return backend; }
  /** The SQLite file or the Redis URL; null for {@link Backend#NONE}. */
  public String location() { return location; }
  public String passwordEnv() { return passwordEnv; }
  public long lockTtlMs() { return lockTtlMs; }

  public boolean enabled() {
    return backend != Backend.NONE;
  }

  /** Identifies the store, for sharing one open cache in a JVM. */
  public String sharingKey() {
    return backend + "|" + location + "|" + passwordEnv + "|" + lockTtlMs;
  }

  @Override
  public String toString() {
    return switch (backend) {
      case NONE -> "no response cache";
      case SQLITE -> "SQLite " + location;
      case REDIS -> "Redis " + location;
    };
  }
}
