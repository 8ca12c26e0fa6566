package dev.moaa.transforms.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.ObjectOutputStream;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.JedisPooled;

class RedisCoordinatorTest extends CoordinatorContract {
  private static TestRedis server;

  @BeforeAll
  static void startRedis() throws Exception {
    server = TestRedis.start();
  }

  @AfterAll
  static void stopRedis() throws Exception {
    server.close();
  }

  @Override
  Coordination coordination(String key) {
    return Coordination.redis(server.url(), key);
  }

  @Test
  void aTypicalCallCostsSixRoundTrips_oneForEachStep() {
    Coordinator c = open(coordination(freshKey()));
    c.release(c.tryAcquireSlot("warm", 1)); // the server may not know the scripts yet
    c.settle(c.reserve(0, 0, 0, 0), 0, 0);
    c.correctTokens("warm", 1);
    c.admitRate("warm", 1, 1, 1);
    Map<String, Long> before = new HashMap<>(c.roundTripsByOperation());
    long total = c.roundTrips();

    Slot slot = c.tryAcquireSlot("m", 4);
    assertEquals(0, c.admitRate("m", 600, 100_000, 500));
    Reservation r = c.reserve(0.01, 1500, 1.0, 0);
    c.settle(r, 0.004, 700);
    c.correctTokens("m", 200);
    c.release(slot);

    Map<String, Long> after = c.roundTripsByOperation();
    for (String op : Set.of("acquireSlot", "admitRate", "reserve", "settle", "correctTokens", "release")) {
      assertEquals(1, after.get(op) - before.getOrDefault(op, 0L), op);
    }
    long renewals = after.getOrDefault("renew", 0L) - before.getOrDefault("renew", 0L);
    assertEquals(6, c.roundTrips() - total - renewals);
  }

  @Test
  void aServerThatForgotTheScripts_isSentThemAgain() {
    Coordinator c = open(coordination(freshKey()));
    assertNotNull(c.tryAcquireSlot("m", 2));
    try (JedisPooled admin = new JedisPooled("127.0.0.1", server.port())) {
      admin.scriptFlush();
    }
    long before = c.roundTripsByOperation().get("acquireSlot");
    assertNotNull(c.tryAcquireSlot("m", 2));
    assertEquals(before + 2, c.roundTripsByOperation().get("acquireSlot"), "EVALSHA, then EVAL");
    assertEquals(2, c.slotsInUse("m"));
  }

  @Test
  void theKeysOfANamespaceShareOneHashTag() {
    String key = freshKey();
    Coordinator c = open(coordination(key));
    c.tryAcquireSlot("org/model-1", 1);
    c.admitRate("org/model-1", 60, 0, 1);
    c.holdFor("org/model-1", Duration.ofSeconds(5));
    c.adaptiveLimit("org/model-1", 4);
    c.reserve(0.5, 10, 1, 0);
    try (JedisPooled admin = new JedisPooled("127.0.0.1", server.port())) {
      String p = "moaa:v1:coord:{" + key + "}:";
      assertEquals(Set.of(p + "slots:org/model-1", p + "rate:org/model-1", p + "hold:org/model-1",
          p + "adaptive:org/model-1", p + "budget", p + "budget:leases"), admin.keys(p + "*"));
      assertEquals("500000", admin.hget(p + "budget", "reserved_uusd"), "integer micro-dollars");
      assertTrue(admin.pttl(p + "slots:org/model-1") > 0, "every key expires when unused");
      assertTrue(admin.pttl(p + "budget") > 0);
    }
  }

  @Test
  void aStoppedServer_makesEveryCallThrowAClearError() throws Exception {
    TestRedis own = TestRedis.start();
    Coordinator c = Coordination.redis(own.url(), freshKey()).open();
    try {
      Slot s = c.tryAcquireSlot("m", 1);
      own.close();
      CoordinationException e = assertThrows(CoordinationException.class, () -> c.tryAcquireSlot("m", 1));
      assertTrue(e.getMessage().startsWith("the coordination store at " + own.url() + " is unreachable: "),
          e.getMessage());
      assertThrows(CoordinationException.class, () -> c.admitRate("m", 60, 0, 1));
      assertThrows(CoordinationException.class, () -> c.reserve(0.1, 1, 1, 0));
      assertThrows(CoordinationException.class, () -> c.release(s));
      assertThrows(CoordinationException.class, c::budget);
    } finally {
      c.close();
    }
    CoordinationException atOpen = assertThrows(CoordinationException.class,
        () -> Coordination.redis(own.url(), "k").open());
    assertTrue(atOpen.getMessage().contains("is unreachable"), atOpen.getMessage());
  }

  @Test
  void aPasswordInTheUrl_isUsed_andNeverShown() throws Exception {
    String password = "s3cret-Pa55";
    TestRedis own = TestRedis.start("--requirepass", password);
    String url = "redis://:" + password + "@127.0.0.1:" + own.port() + "/0";
    Coordination spec = Coordination.redis(url, freshKey());
    try {
      assertFalse(spec.toString().contains(password), spec.toString());
      assertEquals("redis://***@127.0.0.1:" + own.port() + "/0", spec.location());
      Coordinator c = spec.open();
      assertNotNull(c.tryAcquireSlot("m", 1));
      assertFalse(c.toString().contains(password));

      String wrong = "redis://:not-" + password + "@127.0.0.1:" + own.port() + "/0";
      CoordinationException denied = assertThrows(CoordinationException.class,
          () -> Coordination.redis(wrong, "k").open());
      assertFalse(denied.getMessage().contains(password), denied.getMessage());
      assertTrue(denied.getMessage().contains("redis://***@127.0.0.1"), denied.getMessage());

      own.close();
      CoordinationException down = assertThrows(CoordinationException.class, () -> c.admitRate("m", 1, 0, 1));
      assertFalse(down.getMessage().contains(password), down.getMessage());
      assertTrue(down.getMessage().contains("redis://***@127.0.0.1:" + own.port() + "/0 is unreachable"),
          down.getMessage());
      c.close();
    } finally {
      own.close();
    }
    assertThrows(IllegalArgumentException.class, () -> Coordination.redis("redis://u:" + password + "@", "k"));
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
        () -> Coordination.redis("redis://u:" + password + "@h:1/notadb", "k"));
    assertFalse(bad.getMessage().contains(password), bad.getMessage());
  }

  @Test
  void theSpecIsASerializableValue() throws Exception {
    Coordination spec = coordination("run-1").withLeaseTtl(Duration.ofSeconds(3));
    new ObjectOutputStream(new ByteArrayOutputStream()).writeObject(spec);
    assertTrue(spec.shared());
    assertEquals(3000, spec.leaseTtlMs());
    assertEquals("run-1", spec.key());
  }
}
