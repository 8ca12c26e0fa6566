package dev.moaa.transforms.cache;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.commons.pool2.impl.GenericObjectPoolConfig;
import redis.clients.jedis.Connection;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisPooled;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.params.SetParams;

/**
 * The shared cache: answers in a Redis server that every worker of a cluster (and every pipeline
 * process on one machine) reaches. Keys are {@code moaa:v1:answer:<call hash>}; an answer is set
 * only if absent, so the first one stored is the one everybody reads.
 *
 * <p>Claims ({@code moaa:v1:claim:<call hash>}) keep two processes from paying for the same call at
 * once: the first sets the claim with a time to live and renews it while its call runs; the others
 * wait for the answer. A claim of a process that died expires after {@link CacheSpec#lockTtlMs()}.
 */
public final class RedisResponseCache implements ResponseCache {
  private static final String ANSWER = "moaa:v1:answer:";
  private static final String CLAIM = "moaa:v1:claim:";
  private static final String UNCLAIM_SCRIPT =
      "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

  private final String url;
  private final JedisPooled redis;
  private final long claimTtlMs;
  private final String owner = UUID.randomUUID().toString();
  private final Set<String> claims = ConcurrentHashMap.newKeySet();
  private final ScheduledExecutorService renewer;

  private RedisResponseCache(String url, JedisPooled redis, long claimTtlMs) {
    this.url = url;
    this.redis = redis;
    this.claimTtlMs = claimTtlMs;
    this.renewer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "moaa-cache-claims");
      t.setDaemon(true);
      return t;
    });
    long every = Math.max(50, claimTtlMs / 3);
    renewer.scheduleWithFixedDelay(this::renewClaims, every, every, TimeUnit.MILLISECONDS);
  }

  /** Connects and checks the server answers; the password comes from the spec's variable. */
  public static RedisResponseCache open(CacheSpec spec) throws CacheException {
    URI u = URI.create(spec.location());
    DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder()
        .ssl("rediss".equals(u.getScheme()))
        .connectionTimeoutMillis(5_000)
        .socketTimeoutMillis(10_000);
    if (spec.passwordEnv() != null) {
      String password = System.getenv(spec.passwordEnv());
      if (password == null || password.isEmpty()) {
        throw new CacheException("environment variable " + spec.passwordEnv()
            + " (password of the Redis cache) is not set", null);
      }
      config.password(password);
    }
    String path = u.getPath();
    if (path != null && path.length() > 1) {
      try {
        config.database(Integer.parseInt(path.substring(1)));
      } catch (NumberFormatException e) {
        throw new CacheException("the Redis URL " + spec.location() + " names no database number", e);
      }
    }
    GenericObjectPoolConfig<Connection> pool = new GenericObjectPoolConfig<>();
    pool.setMaxTotal(128);
    pool.setMaxIdle(128);
    pool.setJmxEnabled(false);
    JedisPooled redis = new JedisPooled(pool, new HostAndPort(u.getHost(), u.getPort() < 0 ? 6379 : u.getPort()),
        config.build());
    try {
      redis.ping();
    } catch (JedisException e) {
      redis.close();
      throw new CacheException("cannot reach the Redis cache at " + spec.location() + ": " + e.getMessage(), e);
    }
    return new RedisResponseCache(spec.location(), redis, spec.lockTtlMs());
  }

  @Override
  public byte[] get(String key) throws CacheException {
    try {
      return redis.get(bytes(ANSWER + key));
    } catch (JedisException e) {
      throw new CacheException("cannot read the Redis cache at " + url + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void put(String key, String model, byte[] answer) throws CacheException {
    try {
      redis.set(bytes(ANSWER + key), answer, SetParams.setParams().nx());
    } catch (JedisException e) {
      throw new CacheException("cannot write the Redis cache at " + url + ": " + e.getMessage(), e);
    }
  }

  @Override
  public boolean claim(String key) throws CacheException {
    try {
      boolean got = "OK".equals(redis.set(CLAIM + key, owner, SetParams.setParams().nx().px(claimTtlMs)));
      if (got) {
        claims.add(key);
      }
      return got;
    } catch (JedisException e) {
      throw new CacheException("cannot claim a call in the Redis cache at " + url + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void unclaim(String key) {
    if (claims.remove(key)) {
      try {
        redis.eval(UNCLAIM_SCRIPT, List.of(CLAIM + key), List.of(owner));
      } catch (JedisException ignored) {
        // the claim expires by itself
      }
    }
  }

  private void renewClaims() {
    for (String key : claims) {
      try {
        redis.pexpire(CLAIM + key, claimTtlMs);
      } catch (JedisException ignored) {
        // retried on the next round; at worst another process makes the call too
      }
    }
  }

  @Override
  public long size() throws CacheException {
    try {
      long n = 0;
      String cursor = "0";
      redis.clients.jedis.params.ScanParams match = new redis.clients.jedis.params.ScanParams().match(ANSWER + "*").count(1000);
      do {
        var page = redis.scan(cursor, match);
        n += page.getResult().size();
        cursor = page.getCursor();
      } while (!"0".equals(cursor));
      return n;
    } catch (JedisException e) {
      throw new CacheException("cannot read the Redis cache at " + url + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    renewer.shutdownNow();
    for (String key : List.copyOf(claims)) {
      unclaim(key);
    }
    redis.close();
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Override
  public String toString() {
    return "Redis response cache " + url;
  }
}
