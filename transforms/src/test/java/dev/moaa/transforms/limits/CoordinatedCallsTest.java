package dev.moaa.transforms.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.budget.BudgetSpec;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ClusterGate;
import dev.moaa.transforms.client.ErrorKind;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.OpenAiChatClient;
import dev.moaa.transforms.client.RateLimits;
import dev.moaa.transforms.client.RetryPolicy;
import dev.moaa.transforms.moa.SharedModelClients;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The call path with shared limits, against a real redis-server and a small HTTP endpoint: two
 * coordinators opened separately stand for two workers of a cluster.
 */
class CoordinatedCallsTest {
  private static TestRedis redis;
  private HttpServer server;
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger peak = new AtomicInteger();
  private final AtomicInteger received = new AtomicInteger();
  private final AtomicInteger rateLimitFirst = new AtomicInteger();
  private volatile long delayMs = 100;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = TestRedis.start();
  }

  @AfterAll
  static void stopRedis() throws Exception {
    redis.close();
  }

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(Executors.newCachedThreadPool());
    server.createContext("/v1/chat/completions", this::serve);
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private void serve(HttpExchange ex) throws IOException {
    ex.getRequestBody().readAllBytes();
    received.incrementAndGet();
    int now = inFlight.incrementAndGet();
    peak.accumulateAndGet(now, Math::max);
    try {
      if (rateLimitFirst.getAndDecrement() > 0) {
        ex.getResponseHeaders().add("Retry-After", "1");
        ex.sendResponseHeaders(429, -1);
        return;
      }
      Thread.sleep(delayMs);
      byte[] b = ("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}").getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, b.length);
      ex.getResponseBody().write(b);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      inFlight.decrementAndGet();
      ex.close();
    }
  }

  private ModelEndpoint endpoint(int maxConcurrency, Coordination c) {
    return ModelEndpoint.builder("m", "http://127.0.0.1:" + server.getAddress().getPort() + "/v1", "model-x")
        .maxTokens(16).maxConcurrency(maxConcurrency).readTimeoutMs(5000).connectTimeoutMs(1000)
        .retry(RetryPolicy.of(3, 50, 200)).rateLimits(RateLimits.of(0, 0, false, 0.7, 1))
        .coordination(c).build();
  }

  private static ChatRequest hello(int i) {
    return ChatRequest.of(List.of(new Message("user", "hello " + i)));
  }

  private static String freshKey() {
    return "test-" + UUID.randomUUID();
  }

  @Test
  void givenTwoWorkersWithFourSlotsEach_atMostFourCallsAreInFlightAcrossBoth() throws Exception {
    Coordination spec = Coordination.redis(redis.url(), freshKey());
    try (Coordinator a = spec.open(); Coordinator b = spec.open()) {
      ModelEndpoint e = endpoint(4, spec);
      OpenAiChatClient workerA = OpenAiChatClient.create(e, null, Thread::sleep, new ClusterGate(a, e));
      OpenAiChatClient workerB = OpenAiChatClient.create(e, null, Thread::sleep, new ClusterGate(b, e));
      ExecutorService pool = Executors.newFixedThreadPool(8);
      List<Future<?>> calls = new ArrayList<>();
      for (int i = 0; i < 32; i++) {
        OpenAiChatClient c = i % 2 == 0 ? workerA : workerB;
        int n = i;
        calls.add(pool.submit(() -> c.complete(hello(n))));
      }
      for (Future<?> f : calls) {
        f.get();
      }
      pool.shutdown();
      assertEquals(32, received.get());
      assertTrue(peak.get() <= 4, "peak in flight " + peak.get() + " > 4 (each worker alone allows 4)");
      assertTrue(peak.get() >= 3, "the limit was used: peak " + peak.get());
      assertEquals(0, a.slotsInUse(e.coordinationId()), "every slot given back");
      workerA.close();
      workerB.close();
    }
  }

  @Test
  void givenA429WithRetryAfter_theOtherWorkerWaitsToo() throws Exception {
    Coordination spec = Coordination.redis(redis.url(), freshKey());
    try (Coordinator a = spec.open(); Coordinator b = spec.open()) {
      ModelEndpoint e = endpoint(4, spec);
      // worker A gives up at once on a 429 (its rate-limit wait allows 100 ms, the server asks 1 s)
      ModelEndpoint impatient = e.toBuilder().retry(RetryPolicy.of(3, 50, 200, 100)).build();
      OpenAiChatClient workerA = OpenAiChatClient.create(impatient, null, Thread::sleep, new ClusterGate(a, impatient));
      OpenAiChatClient workerB = OpenAiChatClient.create(e, null, Thread::sleep, new ClusterGate(b, e));
      rateLimitFirst.set(1);
      delayMs = 1;
      ChatException limited = assertThrows(ChatException.class, () -> workerA.complete(hello(0)));
      assertEquals(ErrorKind.RATE_LIMITED, limited.kind());
      long start = System.nanoTime();
      workerB.complete(hello(1));
      long waitedMs = (System.nanoTime() - start) / 1_000_000;
      assertTrue(waitedMs >= 700, "worker B was held by worker A's Retry-After: waited " + waitedMs + " ms");
      workerA.close();
      workerB.close();
    }
  }

  @Test
  void givenTheStoreStops_aCallFailsAsCoordinationUnavailable_andNothingIsSent() throws Exception {
    TestRedis own = TestRedis.start();
    Coordination spec = Coordination.redis(own.url(), freshKey());
    Coordinator c = spec.open();
    try {
      ModelEndpoint e = endpoint(2, spec);
      OpenAiChatClient client = OpenAiChatClient.create(e, null, Thread::sleep, new ClusterGate(c, e));
      assertEquals("ok", client.complete(hello(0)).content());
      own.close();
      int before = received.get();
      ChatException ex = assertThrows(ChatException.class, () -> client.complete(hello(1)));
      assertEquals(ErrorKind.COORDINATION, ex.kind());
      assertEquals("coordination_unavailable", ex.kind().wireName());
      assertTrue(!ex.kind().retryable());
      assertTrue(ex.getMessage().contains("coordination store") && ex.getMessage().contains("unreachable"),
          ex.getMessage());
      assertEquals(before, received.get(), "no request sent without the shared limits");
      client.close();
    } finally {
      c.close();
    }
  }

  @Test
  void givenASharedBudget_callsStopForEveryWorkerOnceItCouldBePassed_andTheSpendIsBooked() throws Exception {
    Coordination spec = Coordination.redis(redis.url(), freshKey());
    BudgetSpec budget = BudgetSpec.of(0, 300, 16);
    ModelEndpoint e = endpoint(1, null).withRunServices(dev.moaa.transforms.cache.CacheSpec.none(), budget, spec,
        true);
    SharedModelClients.Lease lease = SharedModelClients.acquire(e);
    try {
      int ok = 0;
      int refused = 0;
      for (int i = 0; i < 20; i++) {
        SharedModelClients.Outcome o = lease.submit(hello(i), "h" + i).get();
        if (o.response() != null) {
          ok++;
        } else {
          assertEquals(ErrorKind.BUDGET, o.failure().kind(), o.failure().getMessage());
          refused++;
        }
      }
      assertTrue(ok > 0 && refused > 0, ok + " answered, " + refused + " refused");
      try (Coordinator view = spec.open()) {
        BudgetState b = view.budget();
        assertEquals(18L * ok, b.spentTokens(), "every answer's billed tokens booked");
        assertTrue(b.spentTokens() <= 300);
        assertTrue(b.closed());
        assertEquals(0, b.reservedTokens());
        // a second worker opening the same key is refused at once
        assertNull(view.reserve(0, 1, 0, 300));
      }
      assertTrue(lease.takeCoordinationTrips() > 0);
      assertNotNull(e.budgetCoordination());
    } finally {
      lease.release();
    }
  }

  @Test
  void givenAPerRunBudget_twoRunsNamingOneKeyKeepSeparateLedgers() {
    Coordination spec = Coordination.redis(redis.url(), freshKey());
    ModelEndpoint one = endpoint(1, null).withRunServices(dev.moaa.transforms.cache.CacheSpec.none(),
        BudgetSpec.of(0, 100, 16), spec, false);
    ModelEndpoint two = endpoint(1, null).withRunServices(dev.moaa.transforms.cache.CacheSpec.none(),
        BudgetSpec.of(0, 100, 16), spec, false);
    assertTrue(!one.budgetCoordination().key().equals(two.budgetCoordination().key()));
    assertTrue(one.budgetCoordination().key().startsWith(spec.key() + "/run/"));
    assertEquals(one.coordinationId(), two.coordinationId(), "the same endpoint shares its limits");
    ModelEndpoint elsewhere = ModelEndpoint.builder("m", "http://other:1/v1", "model-x").build();
    assertTrue(!elsewhere.coordinationId().equals(one.coordinationId()), "same name, another endpoint");
    CompletableFuture.completedFuture(null);
  }
}
