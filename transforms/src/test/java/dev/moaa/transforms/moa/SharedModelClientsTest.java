package dev.moaa.transforms.moa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.schemas.Message;
import dev.moaa.transforms.SharedResources;
import dev.moaa.transforms.cache.CacheSpec;
import dev.moaa.transforms.cache.ResponseCache;
import dev.moaa.transforms.client.ChatClient;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ModelEndpoint;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SharedModelClientsTest {
  @TempDir Path dir;

  /**
   * A restart tears a subtask down while its calls are in flight: the endpoint is already
   * answering them. The last lease's release returns at once, the call ends and its answer is
   * stored in the cache, and only then is the client closed (before, it was closed under the call).
   */
  @Test
  void givenACallInFlightAtTheLastRelease_itFinishes_isCached_andOnlyThenIsTheClientClosed() throws Exception {
    CountDownLatch inCall = new CountDownLatch(1);
    CountDownLatch answer = new CountDownLatch(1);
    AtomicBoolean closed = new AtomicBoolean();
    AtomicBoolean closedDuringCall = new AtomicBoolean();
    java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
    ClientFactory slow = (endpoint, coordinator) -> new ChatClient() {
      @Override
      public ChatResponse complete(ChatRequest request) {
        sent.incrementAndGet();
        inCall.countDown();
        try {
          answer.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        closedDuringCall.set(closed.get());
        return new ChatResponse("the answer", "stop", 5, 3, 1, 10, 0);
      }

      @Override
      public void close() {
        closed.set(true);
      }
    };
    CacheSpec cache = CacheSpec.sqlite(dir.resolve("c.sqlite").toString());
    ModelEndpoint m = ModelEndpoint.builder("slow-" + System.nanoTime(), "http://127.0.0.1:1/v1", "x")
        .cache(cache).maxConcurrency(1).build();
    SharedModelClients.Lease lease = SharedModelClients.acquire(m, slow);
    CompletableFuture<SharedModelClients.Outcome> call = lease.submit(
        ChatRequest.of(List.of(new Message("user", "hi"))), "hash-1");
    // one pool thread: this second call waits in the queue behind the first
    CompletableFuture<SharedModelClients.Outcome> queued = lease.submit(
        ChatRequest.of(List.of(new Message("user", "another"))), "hash-2");
    assertTrue(inCall.await(10, TimeUnit.SECONDS));
    long t0 = System.nanoTime();
    lease.release();
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(1), "the teardown does not wait for the call");
    assertFalse(closed.get(), "not closed under the call");
    answer.countDown();
    SharedModelClients.Outcome o = call.get(10, TimeUnit.SECONDS);
    assertEquals("the answer", o.response().content());
    SharedModelClients.Outcome notSent = queued.get(10, TimeUnit.SECONDS);
    assertNotNull(notSent.failure(), "a call still queued when the last worker let go is not sent");
    assertTrue(notSent.failure().getMessage().contains("not sent"), notSent.failure().getMessage());
    assertEquals(1, sent.get(), "only the call already out was sent");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!closed.get() && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertTrue(closed.get(), "closed once the call ended");
    assertFalse(closedDuringCall.get());
    assertNull(SharedResources.peek("model-client", m.sharingKey()));
    ResponseCache reopened = ResponseCache.open(cache);
    try {
      assertNotNull(reopened.get("hash-1"), "the answer paid for during the teardown is in the cache");
    } finally {
      reopened.close();
    }
  }
}
