package dev.moaa.transforms.moa;

import dev.moaa.transforms.client.ChatClient;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.OpenAiChatClient;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * One chat client and one call pool per model per JVM, shared by every DoFn instance that calls
 * that model. The pool has exactly {@code max_concurrency} threads, so the per-model limit holds
 * however many DoFn instances a runner creates. Leases are counted; the last release closes them.
 */
public final class SharedModelClients {
  private static final Map<String, Entry> ENTRIES = new HashMap<>();
  private static volatile Function<ModelEndpoint, ChatClient> factory = SharedModelClients::openAi;

  private SharedModelClients() {}

  private static ChatClient openAi(ModelEndpoint endpoint) {
    try {
      return OpenAiChatClient.create(endpoint);
    } catch (ChatException e) {
      throw new IllegalStateException(e.getMessage());
    }
  }

  /** For tests: replaces how clients are made; pass null to restore the HTTP client. */
  public static void setClientFactoryForTesting(Function<ModelEndpoint, ChatClient> f) {
    factory = f == null ? SharedModelClients::openAi : f;
  }

  public static synchronized Lease acquire(ModelEndpoint endpoint) {
    Entry e = ENTRIES.computeIfAbsent(endpoint.sharingKey(), k -> new Entry(endpoint, factory.apply(endpoint)));
    e.leases++;
    return new Lease(endpoint.sharingKey(), e);
  }

  private static synchronized void release(String key, Entry e) {
    if (--e.leases == 0 && ENTRIES.get(key) == e) {
      ENTRIES.remove(key);
      e.pool.shutdown();
      e.client.close();
    }
  }

  private static final class Entry {
    final ChatClient client;
    final ExecutorService pool;
    final AtomicInteger inFlight = new AtomicInteger();
    int leases;

    Entry(ModelEndpoint endpoint, ChatClient client) {
      this.client = client;
      AtomicInteger n = new AtomicInteger();
      this.pool = Executors.newFixedThreadPool(endpoint.maxConcurrency(), r -> {
        Thread t = new Thread(r, "moaa-call-" + endpoint.name() + "-" + n.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
    }
  }

  /**
   * The outcome of one submitted call: a response or the failure, never both; and, where the
   * answer needed one, the repair request sent after it with its own response or failure.
   */
  public record Outcome(ChatResponse response, ChatException failure,
      ChatRequest repairRequest, ChatResponse repairResponse, ChatException repairFailure) {
    public Outcome(ChatResponse response, ChatException failure) {
      this(response, failure, null, null, null);
    }
  }

  /** A DoFn's handle on a shared client; {@link #release()} it in {@code @Teardown}. */
  public static final class Lease {
    private final String key;
    private final Entry entry;
    private boolean released;

    private Lease(String key, Entry entry) {
      this.key = key;
      this.entry = entry;
    }

    /** Queues the call on the model's pool; the future never completes exceptionally. */
    public CompletableFuture<Outcome> submit(ChatRequest request) {
      return submit(request, null);
    }

    /**
     * Queues the call; when {@code repair} maps the answer's content to a request (the answer was
     * unusable), that one follow-up is sent on the same pool slot. The future never completes
     * exceptionally.
     */
    public CompletableFuture<Outcome> submit(ChatRequest request, Function<String, ChatRequest> repair) {
      return CompletableFuture.supplyAsync(() -> {
        entry.inFlight.incrementAndGet();
        try {
          ChatResponse first;
          try {
            first = entry.client.complete(request);
          } catch (ChatException e) {
            return new Outcome(null, e);
          }
          ChatRequest fix = repair == null ? null : repair.apply(first.content());
          if (fix == null) {
            return new Outcome(first, null);
          }
          try {
            return new Outcome(first, null, fix, entry.client.complete(fix), null);
          } catch (ChatException e) {
            return new Outcome(first, null, fix, null, e);
          }
        } finally {
          entry.inFlight.decrementAndGet();
        }
      }, entry.pool);
    }

    /** Calls of this model running right now in this JVM. */
    public int inFlight() {
      return entry.inFlight.get();
    }

    public synchronized void release() {
      if (!released) {
        released = true;
        SharedModelClients.release(key, entry);
      }
    }
  }
}
