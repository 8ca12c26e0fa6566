package dev.moaa.transforms.limits;

import java.io.Serializable;
import java.net.URI;
import java.time.Duration;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where the limits and the budget of a run are shared, as a serializable value handed to the
 * transforms that make calls. {@link #inJvm} keeps the state in this JVM (one machine, the
 * DirectRunner); {@link #redis} keeps it in a Redis server that every worker of a cluster reaches,
 * so a per-model concurrency of 8 means 8 calls in the whole cluster, not 8 per TaskManager.
 *
 * <p>The {@linkplain #key() coordination key} is a namespace: coordinators opened with the same
 * store and key share every limit, the adaptive concurrency, the Retry-After holds and the budget
 * ledger; concurrent runs that name the same key therefore share them too.
 *
 * <p>Slots and budget reservations are leases that expire {@linkplain #leaseTtlMs() a time to live}
 * after their last renewal; the coordinator holding them renews them from a heartbeat thread, so
 * what a killed worker held comes back to the others within that time.
 *
 * <p>A Redis URL may hold credentials ({@code redis://user:password@host:port/db}), but the
 * password is better kept in an environment variable named by {@link #withPasswordEnv}. Neither
 * {@link #toString()} nor any message of this package shows a password.
 */
public final class Coordination implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Pattern KEY = Pattern.compile("[A-Za-z0-9._:/@+=-]{1,200}");
  private static final Pattern USER_INFO = Pattern.compile("(?<=://)[^/@]*@");
  /** The default lease time to live. */
  public static final Duration DEFAULT_LEASE_TTL = Duration.ofSeconds(10);

  private final String url;
  private final String passwordEnv;
  private final String key;
  private final long leaseTtlMs;

  private Coordination(String url, String passwordEnv, String key, long leaseTtlMs) {
    if (key == null || !KEY.matcher(key).matches()) {
      throw new IllegalArgumentException("a coordination key is 1 to 200 characters of letters, digits and"
          + " ._:/@+=- (no braces or spaces), got " + key);
    }
    if (leaseTtlMs < 200) {
      throw new IllegalArgumentException("the lease time to live must be at least 200 ms, got " + leaseTtlMs + " ms");
    }
    this.url = url;
    this.passwordEnv = passwordEnv;
    this.key = key;
    this.leaseTtlMs = leaseTtlMs;
  }

  /** State in this JVM only: coordinators opened in this JVM with the same key share it. */
  public static Coordination inJvm(String key) {
    return new Coordination(null, null, key, DEFAULT_LEASE_TTL.toMillis());
  }

  /**
   * State in the Redis server at {@code url} ({@code redis://host[:port][/db]}, {@code rediss://}
   * for TLS), under the namespace {@code key}.
   */
  public static Coordination redis(String url, String key) {
    Objects.requireNonNull(url, "url");
    URI u;
    try {
      u = URI.create(url);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("not a Redis URL: " + redact(url), null);
    }
    if (!("redis".equals(u.getScheme()) || "rediss".equals(u.getScheme())) || u.getHost() == null) {
      throw new IllegalArgumentException("shared limits need a redis://host:port or rediss://host:port URL, got "
          + redact(url));
    }
    String path = u.getPath();
    if (path != null && path.length() > 1 && !path.substring(1).matches("\\d{1,2}")) {
      throw new IllegalArgumentException("the Redis URL " + redact(url) + " names no database number");
    }
    return new Coordination(url, null, key, DEFAULT_LEASE_TTL.toMillis());
  }

  /** A copy whose leases expire {@code ttl} after their last renewal (heartbeats every third of it). */
  public Coordination withLeaseTtl(Duration ttl) {
    return new Coordination(url, passwordEnv, key, ttl.toMillis());
  }

  /** A copy that reads the Redis password from environment variable {@code variable} when opened. */
  public Coordination withPasswordEnv(String variable) {
    if (url == null) {
      throw new IllegalArgumentException("state kept in this JVM has no password");
    }
    return new Coordination(url, variable, key, leaseTtlMs);
  }

  /** A copy with another namespace in the same store. */
  public Coordination withKey(String otherKey) {
    return new Coordination(url, passwordEnv, otherKey, leaseTtlMs);
  }

  /** Opens a coordinator; for Redis, connects and checks that the server answers. */
  public Coordinator open() {
    return url == null ? LocalCoordinator.open(this) : RedisCoordinator.open(this);
  }

  /** Whether the state lives outside this JVM (in Redis). */
  public boolean shared() { return url != null; }

  public String key() { return key; }

  public long leaseTtlMs() { return leaseTtlMs; }

  /** The environment variable holding the Redis password, or null. */
  public String passwordEnv() { return passwordEnv; }

  /** The Redis URL with any {@code user:password@} replaced by {@code ***@}; "this JVM" when local. */
  public String location() {
    return url == null ? "this JVM" : redact(url);
  }

  /** The URL as given, credentials included; for opening the connection only. */
  String rawUrl() { return url; }

  /** {@code url} with any user information ({@code user:password@}) replaced by {@code ***@}. */
  public static String redact(String url) {
    return url == null ? null : USER_INFO.matcher(url).replaceFirst("***@");
  }

  /**
   * Identifies the store and namespace, for sharing one open coordinator per JVM. It holds the URL
   * as given: a map key, never text to show.
   */
  public String sharingKey() {
    return (url == null ? "jvm" : url) + "|" + passwordEnv + "|" + key + "|" + leaseTtlMs;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Coordination c && Objects.equals(url, c.url) && Objects.equals(passwordEnv, c.passwordEnv)
        && key.equals(c.key) && leaseTtlMs == c.leaseTtlMs;
  }

  @Override
  public int hashCode() {
    return Objects.hash(url, passwordEnv, key, leaseTtlMs);
  }

  @Override
  public String toString() {
    return "coordination '" + key + "' in " + location() + " (leases " + leaseTtlMs + " ms)";
  }
}
