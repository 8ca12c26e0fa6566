package dev.moaa.transforms.limits;

import dev.moaa.transforms.limits.RedisScripts.Script;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;
import org.apache.commons.pool2.impl.GenericObjectPoolConfig;
import redis.clients.jedis.Connection;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisPooled;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisNoScriptException;

/**
 * The coordinator of a cluster: the state in one Redis server, changed only by Lua scripts (each
 * atomic, EVALSHA first, EVAL when the server does not know the script yet), on the server's clock.
 *
 * <p>Keys, all under one hash tag so a namespace lives on one Redis Cluster slot ({@code K} is the
 * coordination key, {@code M} a model name):
 *
 * <ul>
 *   <li>{@code moaa:v1:coord:{K}:slots:M}: sorted set of slot leases, member = lease id, score =
 *       expiry (server ms); expired members are removed by the next acquirer.
 *   <li>{@code moaa:v1:coord:{K}:rate:M}: hash {@code req_tat}, {@code tok_tat} (server µs when the
 *       request and token buckets are empty), {@code tok_per} (µs per token of the last admission).
 *   <li>{@code moaa:v1:coord:{K}:hold:M}: string that exists while the model is held (Retry-After).
 *   <li>{@code moaa:v1:coord:{K}:adaptive:M}: string, the adaptive concurrency limit (a double).
 *   <li>{@code moaa:v1:coord:{K}:budget}: hash {@code spent_uusd}, {@code spent_tokens}, {@code
 *       reserved_uusd}, {@code reserved_tokens}, {@code closed}, {@code refused}, {@code expired}
 *       (integer micro-dollars and tokens).
 *   <li>{@code moaa:v1:coord:{K}:budget:leases}: sorted set of reservations, member = {@code
 *       leaseId|microUsd|tokens}, score = expiry (server ms).
 * </ul>
 *
 * <p>Every key expires by itself when unused: slot sets a minute after their last lease, rate
 * hashes a minute after their buckets empty, adaptive limits after a day, budgets after a week.
 */
public final class RedisCoordinator extends LeasingCoordinator {
  static final String PREFIX = "moaa:v1:coord:";
  private static final long ADAPTIVE_KEEP_MS = Duration.ofDays(1).toMillis();
  private static final long BUDGET_KEEP_MS = Duration.ofDays(7).toMillis();

  private final JedisPooled redis;
  private final String password;
  private final String base;
  private final String budgetKey;
  private final String budgetLeasesKey;
  private final Map<String, LongAdder> trips = new ConcurrentHashMap<>();
  private final LongAdder total = new LongAdder();

  private RedisCoordinator(Coordination spec, JedisPooled redis, String password) {
    super(spec);
    this.redis = redis;
    this.password = password;
    this.base = PREFIX + "{" + spec.key() + "}:";
    this.budgetKey = base + "budget";
    this.budgetLeasesKey = base + "budget:leases";
  }

  /** Connects to the spec's server and checks it answers; {@link CoordinationException} when it does not. */
  static RedisCoordinator open(Coordination spec) {
    URI u = URI.create(spec.rawUrl());
    DefaultJedisClientConfig.Builder config = DefaultJedisClientConfig.builder()
        .ssl("rediss".equals(u.getScheme()))
        .connectionTimeoutMillis(2_000)
        .socketTimeoutMillis(5_000);
    String user = null;
    String password = null;
    String info = u.getRawUserInfo();
    if (info != null && !info.isEmpty()) {
      int colon = info.indexOf(':');
      user = decode(colon < 0 ? info : info.substring(0, colon));
      password = colon < 0 ? null : decode(info.substring(colon + 1));
    }
    if (spec.passwordEnv() != null) {
      password = System.getenv(spec.passwordEnv());
      if (password == null || password.isEmpty()) {
        throw new CoordinationException("environment variable " + spec.passwordEnv()
            + " (password of the coordination store at " + spec.location() + ") is not set", null);
      }
    }
    if (user != null && !user.isEmpty()) {
      config.user(user);
    }
    if (password != null && !password.isEmpty()) {
      config.password(password);
    }
    String path = u.getPath();
    if (path != null && path.length() > 1) {
      config.database(Integer.parseInt(path.substring(1)));
    }
    GenericObjectPoolConfig<Connection> pool = new GenericObjectPoolConfig<>();
    pool.setMaxTotal(64);
    pool.setMaxIdle(64);
    pool.setMaxWait(Duration.ofSeconds(10));
    pool.setJmxEnabled(false);
    JedisPooled redis = new JedisPooled(pool, new HostAndPort(u.getHost(), u.getPort() < 0 ? 6379 : u.getPort()),
        config.build());
    RedisCoordinator c = null;
    try {
      c = new RedisCoordinator(spec, redis, password);
      c.call("open", redis::ping);
      return c;
    } catch (RuntimeException e) {
      if (c != null) {
        c.abandon();
      } else {
        redis.close();
      }
      throw e;
    }
  }

  private static String decode(String s) {
    return URLDecoder.decode(s, StandardCharsets.UTF_8);
  }

  private String slotsKey(String model) { return base + "slots:" + model; }
  private String rateKey(String model) { return base + "rate:" + model; }
  private String holdKey(String model) { return base + "hold:" + model; }
  private String adaptiveKey(String model) { return base + "adaptive:" + model; }

  // ---- slots ----

  @Override
  protected boolean takeSlot(String model, int limit, String leaseId) {
    return asLong(eval(RedisScripts.ACQUIRE, List.of(slotsKey(model)),
        List.of(Integer.toString(limit), Long.toString(spec.leaseTtlMs()), leaseId))) == 1;
  }

  @Override
  protected void dropSlot(String model, String leaseId) {
    call("release", () -> redis.zrem(slotsKey(model), leaseId));
  }

  @Override
  public int slotsInUse(String model) {
    checkOpen();
    checkModel(model);
    return (int) asLong(eval(RedisScripts.COUNT, List.of(slotsKey(model)), List.of()));
  }

  // ---- rates ----

  @Override
  public long admitRate(String model, int rpm, long tpm, long estimatedTokens) {
    checkOpen();
    checkModel(model);
    if (rpm < 0 || tpm < 0 || estimatedTokens < 0) {
      throw new IllegalArgumentException("rates and token estimates must not be negative");
    }
    return asLong(eval(RedisScripts.ADMIT, List.of(rateKey(model), holdKey(model)), List.of(Integer.toString(rpm),
        Long.toString(tpm), Long.toString(estimatedTokens), Long.toString(Coordinator.BURST_MS))));
  }

  @Override
  public void correctTokens(String model, long delta) {
    checkOpen();
    checkModel(model);
    if (delta != 0) {
      eval(RedisScripts.CORRECT, List.of(rateKey(model)), List.of(Long.toString(delta)));
    }
  }

  // ---- holds ----

  @Override
  public void holdFor(String model, Duration duration) {
    checkOpen();
    checkModel(model);
    if (duration.toMillis() > 0) {
      eval(RedisScripts.HOLD, List.of(holdKey(model)), List.of(Long.toString(duration.toMillis())));
    }
  }

  @Override
  public long holdRemainingMs(String model) {
    checkOpen();
    checkModel(model);
    return Math.max(0, call("holdRemainingMs", () -> redis.pttl(holdKey(model))));
  }

  // ---- adaptive ----

  @Override
  public double adaptiveLimit(String model, double initial) {
    checkOpen();
    checkModel(model);
    Object v = eval(RedisScripts.ADAPTIVE_GET, List.of(adaptiveKey(model)),
        List.of(Double.toString(initial), Long.toString(ADAPTIVE_KEEP_MS)));
    return Double.parseDouble(asString(v));
  }

  @Override
  public boolean compareAndSetAdaptiveLimit(String model, double expected, double next) {
    checkOpen();
    checkModel(model);
    return asLong(eval(RedisScripts.ADAPTIVE_CAS, List.of(adaptiveKey(model)),
        List.of(Double.toString(expected), Double.toString(next), Long.toString(ADAPTIVE_KEEP_MS)))) == 1;
  }

  // ---- budget ----

  private static String member(Reservation r) {
    return r.id() + "|" + r.microUsd() + "|" + r.tokens();
  }

  @Override
  protected boolean takeReservation(Reservation r, long maxMicroUsd, long maxTokens) {
    return asLong(eval(RedisScripts.RESERVE, List.of(budgetKey, budgetLeasesKey), List.of(member(r),
        Long.toString(r.microUsd()), Long.toString(r.tokens()), Long.toString(maxMicroUsd), Long.toString(maxTokens),
        Long.toString(spec.leaseTtlMs()), Long.toString(BUDGET_KEEP_MS)))) == 1;
  }

  @Override
  protected void settleReservation(Reservation r, long microUsd, long tokens) {
    eval(RedisScripts.SETTLE, List.of(budgetKey, budgetLeasesKey), List.of(member(r), Long.toString(microUsd),
        Long.toString(tokens), Long.toString(BUDGET_KEEP_MS)));
  }

  @Override
  protected void dropReservation(Reservation r) {
    settleReservation(r, 0, 0);
  }

  @Override
  public void reopenBudget() {
    reopenBudget(0, 0);
  }

  private static final String REOPEN_BUDGET = String.join("\n",
      "local s = tonumber(redis.call('HGET', KEYS[1], 'spent_uusd') or '0')",
      "if s < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'spent_uusd', ARGV[1]) end",
      "local t = tonumber(redis.call('HGET', KEYS[1], 'spent_tokens') or '0')",
      "if t < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'spent_tokens', ARGV[2]) end",
      "redis.call('HDEL', KEYS[1], 'closed')",
      "return 1");

  @Override
  public void reopenBudget(double floorUsd, long floorTokens) {
    checkOpen();
    call("reopenBudget", () -> redis.eval(REOPEN_BUDGET, List.of(budgetKey),
        List.of(Long.toString(ceilMicro(floorUsd)), Long.toString(floorTokens))));
  }

  @Override
  public BudgetState budget() {
    checkOpen();
    Object v = eval(RedisScripts.BUDGET, List.of(budgetKey, budgetLeasesKey), List.of());
    List<?> f = (List<?>) v;
    return new BudgetState(num(f.get(0)), num(f.get(1)), num(f.get(2)), num(f.get(3)), "1".equals(asString(f.get(4))),
        num(f.get(5)));
  }

  private static long num(Object o) {
    String s = asString(o);
    return s == null ? 0 : Long.parseLong(s);
  }

  // ---- leases ----

  @Override
  protected List<String> renew(Map<String, List<String>> slotsByModel, List<Reservation> reservations) {
    List<String> keys = new ArrayList<>();
    List<String> counts = new ArrayList<>();
    List<String> members = new ArrayList<>();
    for (Map.Entry<String, List<String>> e : slotsByModel.entrySet()) {
      keys.add(slotsKey(e.getKey()));
      counts.add(Integer.toString(e.getValue().size()));
      members.addAll(e.getValue());
    }
    int slotKeys = keys.size();
    if (!reservations.isEmpty()) {
      keys.add(budgetLeasesKey);
      counts.add(Integer.toString(reservations.size()));
      for (Reservation r : reservations) {
        members.add(member(r));
      }
    }
    List<String> args = new ArrayList<>();
    args.add(Long.toString(spec.leaseTtlMs()));
    args.add(Integer.toString(slotKeys));
    args.addAll(counts);
    args.addAll(members);
    List<String> lost = new ArrayList<>();
    for (Object o : (List<?>) eval(RedisScripts.RENEW, keys, args)) {
      String m = asString(o);
      int bar = m.indexOf('|');
      lost.add(bar < 0 ? m : m.substring(0, bar));
    }
    return lost;
  }

  @Override
  protected void disconnect() {
    redis.close();
  }

  // ---- round trips and errors ----

  @Override
  public long roundTrips() {
    return total.sum();
  }

  @Override
  public Map<String, Long> roundTripsByOperation() {
    Map<String, Long> out = new TreeMap<>();
    trips.forEach((op, n) -> out.put(op, n.sum()));
    return out;
  }

  private void count(String op) {
    trips.computeIfAbsent(op, k -> new LongAdder()).increment();
    total.increment();
  }

  private Object eval(Script s, List<String> keys, List<String> args) {
    return call(s.name(), () -> {
      try {
        return redis.evalsha(s.sha(), keys, args);
      } catch (JedisNoScriptException e) {
        count(s.name());
        return redis.eval(s.text(), keys, args);
      }
    });
  }

  private <T> T call(String op, Supplier<T> body) {
    count(op);
    try {
      return body.get();
    } catch (JedisConnectionException e) {
      throw new CoordinationException("the coordination store at " + spec.location() + " is unreachable: "
          + scrub(e), e);
    } catch (JedisException e) {
      throw new CoordinationException("the coordination store at " + spec.location() + " failed " + op + ": "
          + scrub(e), e);
    }
  }

  /** The exception's message (or its cause's), without the password. */
  private String scrub(Throwable e) {
    String m = e.getMessage();
    if ((m == null || m.isEmpty()) && e.getCause() != null) {
      m = e.getCause().getMessage();
    }
    if (m == null) {
      m = e.getClass().getSimpleName();
    }
    if (password != null && !password.isEmpty()) {
      m = m.replace(password, "***");
    }
    return Coordination.redact(m);
  }

  private static long asLong(Object o) {
    if (o instanceof Long l) {
      return l;
    }
    return Long.parseLong(asString(o));
  }

  private static String asString(Object o) {
    if (o == null) {
      return null;
    }
    if (o instanceof byte[] b) {
      return new String(b, StandardCharsets.UTF_8);
    }
    return o.toString();
  }

  @Override
  public String toString() {
    return "Redis coordinator '" + spec.key() + "' at " + spec.location();
  }
}
