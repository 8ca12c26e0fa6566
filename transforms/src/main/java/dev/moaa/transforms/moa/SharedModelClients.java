package dev.moaa.transforms.moa;

import dev.moaa.transforms.budget.BudgetLedger;
import dev.moaa.transforms.budget.BudgetSpec;
import dev.moaa.transforms.cache.CacheException;
import dev.moaa.transforms.cache.ResponseCache;
import dev.moaa.transforms.cache.SharedCaches;
import dev.moaa.transforms.client.ChatClient;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ClusterGate;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.StoredAnswer;
import dev.moaa.transforms.client.ErrorKind;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.OpenAiChatClient;
import dev.moaa.transforms.client.RequestGate;
import dev.moaa.transforms.client.TokenEstimate;
import dev.moaa.transforms.limits.Coordination;
import dev.moaa.transforms.limits.CoordinationException;
import dev.moaa.transforms.limits.Coordinator;
import dev.moaa.transforms.limits.Reservation;
import dev.moaa.transforms.limits.SharedCoordinators;
import java.io.IOException;
import java.util.WeakHashMap;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
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
 *
 * <p>Every call goes through the run's response cache and budget first: a stored answer is
 * returned without a request; a call already being made (in this JVM, or by another process
 * sharing a Redis cache) is waited for rather than made twice; a call that could take the run past
 * its budget is not sent and fails with {@link ErrorKind#BUDGET}. A paid answer is stored before
 * it is handed on, so a run killed after that point never pays for it again.
 */
public final class SharedModelClients {
  private static final Logger LOG = LoggerFactory.getLogger(SharedModelClients.class);
  /** The kind of the model clients in {@link dev.moaa.transforms.SharedResources}. */
  private static final String KIND = "model-client";
  /** Calls being made in this JVM, by call hash: a second caller waits for the first one's answer. */
  private static final Map<String, CompletableFuture<Answer>> IN_FLIGHT = new ConcurrentHashMap<>();
  private static final AtomicLong CACHE_ERRORS = new AtomicLong();
  /** Launches whose budget stop this JVM wrote in the folder's ledger. */
  private static final java.util.Set<String> BUDGET_CLOSED_SAID = ConcurrentHashMap.newKeySet();
  private static final long CLAIM_POLL_MS = 50;
  /** Round trips of each open coordinator already handed to a counter, so none is counted twice. */
  private static final Map<Coordinator, long[]> REPORTED_TRIPS = new WeakHashMap<>();

  private SharedModelClients() {}

  /** Round trips {@code c} made since this was last asked (by any caller); 0 for null. */
  private static long unreportedTrips(Coordinator c) {
    if (c == null) {
      return 0;
    }
    synchronized (REPORTED_TRIPS) {
      long[] seen = REPORTED_TRIPS.computeIfAbsent(c, k -> new long[1]);
      long now = c.roundTrips();
      long d = now - seen[0];
      seen[0] = now;
      return Math.max(0, d);
    }
  }

  /** A lease of {@code endpoint}'s shared client, made over HTTP when this JVM has none open yet. */
  public static Lease acquire(ModelEndpoint endpoint) {
    return acquire(endpoint, ClientFactory.http());
  }

  /**
   * A lease of {@code endpoint}'s shared client; when this JVM has none open yet, {@code clients}
   * makes it.
   */
  public static Lease acquire(ModelEndpoint endpoint, ClientFactory clients) {
    ResponseCache cache = null;
    if (endpoint.cache().enabled()) {
      try {
        cache = SharedCaches.acquire(endpoint.cache());
      } catch (CacheException e) {
        throw new IllegalStateException(e.getMessage(), e);
      }
    }
    Entry e = dev.moaa.transforms.SharedResources.acquire(KIND, endpoint.sharingKey(), () -> {
      Coordinator coordinator = endpoint.coordination() == null ? null
          : SharedCoordinators.acquire(endpoint.coordination());
      try {
        return new Entry(endpoint, clients.create(endpoint, coordinator), coordinator);
      } catch (RuntimeException ex) {
        if (coordinator != null) {
          SharedCoordinators.release(endpoint.coordination());
        }
        throw ex;
      }
    }, SharedModelClients::closeWhenDrained);
    Coordinator budgetStore = null;
    if (endpoint.coordination() != null && endpoint.budget().limited()) {
      budgetStore = SharedCoordinators.acquire(endpoint.budgetCoordination());
    }
    return new Lease(endpoint, e, cache, budgetStore == null ? BudgetLedger.acquire(endpoint.budget()) : null,
        budgetStore, dev.moaa.transforms.budget.CallLedger.acquire(endpoint.budget()));
  }

  /** The admission gate's figures of a model's client in this JVM, or null when none is open. */
  public static RequestGate.Stats gateStats(ModelEndpoint endpoint) {
    Entry e = dev.moaa.transforms.SharedResources.peek(KIND, endpoint.sharingKey());
    return e != null && e.client instanceof OpenAiChatClient c ? c.gateStats() : null;
  }

  /** Calls of a model running right now in this JVM (0 when no client of it is open). */
  public static int inFlight(ModelEndpoint endpoint) {
    Entry e = dev.moaa.transforms.SharedResources.peek(KIND, endpoint.sharingKey());
    return e == null ? 0 : e.inFlight.get();
  }

  /** Reads and writes of the cache that failed in this JVM (each one a miss or a lost saving). */
  public static long cacheErrors() {
    return CACHE_ERRORS.get();
  }

  /**
   * Gives back one lease of {@code e}; {@code afterCalls} releases what that lease held of its own
   * (cache, budget), at once, or, for the last lease, once the model's client is closed.
   */
  private static void release(String key, Entry e, Runnable afterCalls) {
    if (dev.moaa.transforms.SharedResources.release(KIND, key, e)) {
      e.closed.thenRun(afterCalls);
    } else {
      afterCalls.run();
    }
  }

  /**
   * Closes a model's client once its last lease is gone, but only once the calls still in its pool
   * have ended (a subtask torn down by a restart leaves calls running that the endpoint is already
   * answering: they finish, are paid once and are stored in the cache, bounded by the model's
   * timeouts per attempt), on a thread of its own so that the teardown returns at once.
   */
  private static void closeWhenDrained(Entry e) {
    e.closing = true;
    e.client.stopSending();
    e.pool.shutdown();
    Runnable close = () -> {
      try {
        e.client.close();
        if (e.coordinator != null) {
          SharedCoordinators.release(e.coordinator.coordination());
        }
      } finally {
        e.closed.complete(null);
      }
    };
    if (e.pool.isTerminated() || e.inFlight.get() == 0 && awaitQuietly(e.pool, 2_000)) {
      close.run();
      return;
    }
    Thread drain = new Thread(() -> {
      long bound = e.drainMs;
      if (!awaitQuietly(e.pool, bound)) {
        LOG.warn("model {}: {} call(s) still running {} ms after the last worker let go; the client is closed"
            + " under them", e.name, e.inFlight.get(), bound);
      }
      close.run();
    }, "moaa-drain-" + e.name);
    drain.setDaemon(true);
    drain.start();
  }

  private static boolean awaitQuietly(ExecutorService pool, long ms) {
    try {
      return pool.awaitTermination(ms, java.util.concurrent.TimeUnit.MILLISECONDS);
    } catch (InterruptedException ie) {
      Thread.currentThread().interrupt();
      return pool.isTerminated();
    }
  }

  private static final class Entry {
    final ChatClient client;
    final ExecutorService pool;
    final Coordinator coordinator;
    final AtomicInteger inFlight = new AtomicInteger();
    final String name;
    /** How long the last release waits for calls in flight: every attempt's connect and read timeouts. */
    final long drainMs;
    /** Set when the last lease went: calls still queued in the pool are not sent. */
    volatile boolean closing;
    /** Completed once the client is closed (after the calls in its pool ended). */
    final CompletableFuture<Void> closed = new CompletableFuture<>();

    Entry(ModelEndpoint endpoint, ChatClient client, Coordinator coordinator) {
      this.client = client;
      this.coordinator = coordinator;
      this.name = endpoint.name();
      this.drainMs = Math.max(5_000, (long) Math.max(1, endpoint.retry().maxAttempts())
          * (endpoint.connectTimeoutMs() + endpoint.readTimeoutMs()));
      AtomicInteger n = new AtomicInteger();
      // a batch model's calls wait for their batch, each holding a thread: as many as a batch holds
      int threads = endpoint.batch() == null ? endpoint.maxConcurrency()
          : Math.max(endpoint.maxConcurrency(), endpoint.batch().maxRequests());
      this.pool = Executors.newFixedThreadPool(threads, r -> {
        Thread t = new Thread(r, "moaa-call-" + endpoint.name() + "-" + n.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
    }
  }

  /**
   * The outcome of one submitted call: a response or the failure, never both; and, where the
   * answer needed one, the repair request sent after it with its own response or failure. The
   * flags say which answers came from the cache.
   */
  public record Outcome(ChatResponse response, ChatException failure, boolean cached,
      ChatRequest repairRequest, String repairHash, ChatResponse repairResponse, ChatException repairFailure,
      boolean repairCached) {
    public Outcome(ChatResponse response, ChatException failure) {
      this(response, failure, false, null, null, null, null, false);
    }
  }

  /** One request's answer or failure, and whether it came from the cache. */
  record Answer(ChatResponse response, ChatException failure, boolean cached) {}

  /** A DoFn's handle on a shared client; {@link #release()} it in {@code @Teardown}. */
  public static final class Lease {
    private final ModelEndpoint endpoint;
    private final Entry entry;
    private final ResponseCache cache;
    private final BudgetLedger ledger;
    private final Coordinator budgetStore;
    /** The folder's call ledger (null: the run keeps none): budget stops and unstored answers go there. */
    private final dev.moaa.transforms.budget.CallLedger callLedger;
    private boolean released;

    private Lease(ModelEndpoint endpoint, Entry entry, ResponseCache cache, BudgetLedger ledger,
        Coordinator budgetStore, dev.moaa.transforms.budget.CallLedger callLedger) {
      this.callLedger = callLedger;
      this.endpoint = endpoint;
      this.entry = entry;
      this.cache = cache;
      this.ledger = ledger;
      this.budgetStore = budgetStore;
    }

    /** Whether this model's limits (and, with a budget, the ledger) are shared through a coordination store. */
    public boolean coordinated() {
      return endpoint.coordination() != null;
    }

    /**
     * Round trips to the coordination store made in this JVM since the last time any lease was
     * asked (heartbeats included): summed over every call of every worker, the run's total.
     */
    public long takeCoordinationTrips() {
      long n = unreportedTrips(entry.coordinator);
      return budgetStore == entry.coordinator ? n : n + unreportedTrips(budgetStore);
    }

    /** Queues the call; the future never completes exceptionally. */
    public CompletableFuture<Outcome> submit(ChatRequest request, String hash) {
      return submit(request, hash, null, null);
    }

    /**
     * Queues the call ({@code hash} is its {@link Calls#requestHash}); when {@code repair} maps the
     * answer's content to a request (the answer was unusable), that one follow-up, rendered from
     * {@code repairTemplate}, is sent on the same pool slot. The future never completes
     * exceptionally.
     */
    public CompletableFuture<Outcome> submit(ChatRequest request, String hash,
        Function<String, ChatRequest> repair, String repairTemplate) {
      return CompletableFuture.supplyAsync(() -> {
        if (entry.closing) {
          return new Outcome(null, new ChatException(ErrorKind.CONNECTION, 0, -1, 0,
              "not sent: the worker stopped (a restart or the end of the run)"), false, null, null, null, null, false);
        }
        entry.inFlight.incrementAndGet();
        try {
          Answer first = timed(answer(request, hash), System.currentTimeMillis());
          if (first.failure() != null) {
            return new Outcome(null, first.failure(), false, null, null, null, null, false);
          }
          ChatRequest fix = repair == null ? null : repair.apply(first.response().content());
          if (fix == null) {
            return new Outcome(first.response(), null, first.cached(), null, null, null, null, false);
          }
          String fixHash = Calls.requestHash(endpoint, fix, repairTemplate);
          Answer second = timed(answer(fix, fixHash), System.currentTimeMillis());
          return new Outcome(first.response(), null, first.cached(), fix, fixHash,
              second.response(), second.failure(), second.cached());
        } finally {
          entry.inFlight.decrementAndGet();
        }
      }, entry.pool);
    }

    /**
     * The answer with the call's wall-clock start and end: those the client measured for a paid
     * call; for an answer from the cache (or a call not sent), from {@code startedAtMs} to now.
     */
    private static Answer timed(Answer a, long startedAtMs) {
      long now = System.currentTimeMillis();
      if (a.response() != null && (a.cached() || a.response().startedAtMs() == 0)) {
        return new Answer(a.response().withTimes(startedAtMs, now), null, a.cached());
      }
      if (a.failure() != null && a.failure().startedAtMs() == 0) {
        return new Answer(null, a.failure().withTimes(startedAtMs, now), a.cached());
      }
      return a;
    }

    /** A stored answer, the answer of the same call made elsewhere, or a paid call. */
    private Answer answer(ChatRequest request, String key) {
      if (cache == null) {
        return pay(request, r -> { });
      }
      ChatResponse hit = lookup(key);
      if (hit != null) {
        return new Answer(hit, null, true);
      }
      CompletableFuture<Answer> mine = new CompletableFuture<>();
      CompletableFuture<Answer> other = IN_FLIGHT.putIfAbsent(key, mine);
      if (other != null) {
        Answer a = other.join();
        return a.response() != null ? new Answer(a.response(), null, true) : a;
      }
      Answer result = null;
      try {
        hit = waitForClaim(key);
        if (hit != null) {
          result = new Answer(hit, null, true);
          return result;
        }
        // From here this process holds the claim (or the cache is private to it).
        try {
          result = pay(request, r -> store(key, r));
          return result;
        } finally {
          cache.unclaim(key);
        }
      } finally {
        IN_FLIGHT.remove(key, mine);
        mine.complete(result != null ? result : new Answer(null,
            new ChatException(ErrorKind.CONNECTION, 0, -1, 0, "the call was abandoned"), false));
      }
    }

    private ChatResponse lookup(String key) {
      byte[] raw;
      try {
        raw = cache.get(key);
      } catch (CacheException e) {
        cacheError(e);
        return null;
      }
      if (raw == null) {
        return null;
      }
      try {
        return StoredAnswer.decode(raw);
      } catch (IOException e) {
        cacheError(new CacheException("an unreadable answer in the response cache under " + key + ": "
            + e.getMessage(), e));
        return null;
      }
    }

    /**
     * Null once this process holds the claim on the call; the answer, when another process that
     * held it stored one meanwhile.
     */
    private ChatResponse waitForClaim(String key) {
      while (true) {
        try {
          if (cache.claim(key)) {
            // The holder before us may have stored the answer between our miss and our claim.
            ChatResponse stored = lookup(key);
            if (stored != null) {
              cache.unclaim(key);
            }
            return stored;
          }
        } catch (CacheException e) {
          cacheError(e);
          return null;
        }
        try {
          Thread.sleep(CLAIM_POLL_MS);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return null;
        }
        ChatResponse hit = lookup(key);
        if (hit != null) {
          return hit;
        }
      }
    }

    /** Stores a paid answer in the cache; a store that fails is counted, and the call goes on. */
    private void store(String key, ChatResponse r) {
      byte[] encoded = StoredAnswer.encode(endpoint.name(), r);
      try {
        cache.put(key, endpoint.name(), encoded);
      } catch (CacheException | RuntimeException e) {
        cacheError(e instanceof CacheException ce ? ce : new CacheException(String.valueOf(e.getMessage()), e));
        keepUnstored(key, encoded);
      }
    }

    /**
     * A paid answer the cache could not take is kept beside the folder's ledger, and goes into the
     * cache at the next launch: the run ends incomplete (the manifest counts these), and its rerun
     * does not pay for the answer again.
     */
    private void keepUnstored(String key, byte[] encoded) {
      if (callLedger == null) {
        return;
      }
      try {
        callLedger.unstored(endpoint.budget().launch(), endpoint.name(), key, encoded);
      } catch (RuntimeException e) {
        LOG.warn("model {}: an answer the cache could not store could not be kept either: {}", endpoint.name(),
            e.getMessage());
      }
    }

    /**
     * Sends the request if the budget allows it, and books what it cost; {@code arrived} gets a
     * paid answer as soon as it is in, before the budget settles it (a budget store that fails
     * afterwards must not lose an answer already paid for).
     */
    private Answer pay(ChatRequest request, java.util.function.Consumer<ChatResponse> arrived) {
      if (budgetStore != null) {
        return payShared(request, arrived);
      }
      BudgetSpec spec = ledger.spec();
      BudgetLedger.Reservation hold = null;
      if (spec.limited()) {
        long prompt = TokenEstimate.promptTokens(request);
        long completion = TokenEstimate.completionTokens(endpoint, request, spec.assumedCompletionTokens());
        hold = ledger.reserve(endpoint.costUsd(prompt, completion), prompt + completion);
        if (hold == null) {
          budgetRefused();
          return new Answer(null, new ChatException(ErrorKind.BUDGET, 0, -1, 0, String.format(Locale.ROOT,
              "not sent: the run's %s could be passed (spent so far $%.4f, %d tokens)",
              spec, ledger.spentUsd(), ledger.spentTokens())), false);
        }
      }
      try {
        ChatResponse r = entry.client.complete(request, arrived);
        if (hold != null) {
          ledger.settle(hold, endpoint.costUsd(r.promptTokens(), r.completionTokens()),
              r.promptTokens() + r.completionTokens());
          hold = null;
        }
        return new Answer(r, null, false);
      } catch (ChatException e) {
        if (hold != null) {
          // an answer that arrived and was unusable is paid all the same
          ledger.settle(hold, endpoint.costUsd(e.usage().promptTokens(), e.usage().completionTokens()),
              e.usage().total());
          hold = null;
        }
        return new Answer(null, e, false);
      } finally {
        if (hold != null) {
          ledger.settle(hold, 0, 0);
        }
      }
    }

    /** {@link #pay} with the budget on the coordination store's ledger, shared by every worker. */
    private Answer payShared(ChatRequest request, java.util.function.Consumer<ChatResponse> arrived) {
      BudgetSpec spec = endpoint.budget();
      long prompt = TokenEstimate.promptTokens(request);
      long completion = TokenEstimate.completionTokens(endpoint, request, spec.assumedCompletionTokens());
      Reservation hold;
      try {
        hold = budgetStore.reserve(endpoint.costUsd(prompt, completion), prompt + completion, spec.maxCostUsd(),
            spec.maxTokens());
        if (hold == null) {
          budgetRefused();
          var b = budgetStore.budget();
          return new Answer(null, new ChatException(ErrorKind.BUDGET, 0, -1, 0, String.format(Locale.ROOT,
              "not sent: the %s shared through %s could be passed (spent so far $%.4f, %d tokens)",
              spec, budgetStore.coordination(), b.spentUsd(), b.spentTokens())), false);
        }
      } catch (CoordinationException | IllegalStateException e) {
        return new Answer(null, ClusterGate.unreachable(e), false);
      }
      double usd = 0;
      long tokens = 0;
      try {
        ChatResponse r = entry.client.complete(request, arrived);
        usd = endpoint.costUsd(r.promptTokens(), r.completionTokens());
        tokens = r.promptTokens() + r.completionTokens();
        return new Answer(r, null, false);
      } catch (ChatException e) {
        // an answer that arrived and was unusable is paid all the same
        usd = endpoint.costUsd(e.usage().promptTokens(), e.usage().completionTokens());
        tokens = e.usage().total();
        return new Answer(null, e, false);
      } finally {
        try {
          budgetStore.settle(hold, usd, tokens);
        } catch (CoordinationException | IllegalStateException e) {
          // the reservation expires within the lease time to live; the next reserve reports the store
          LOG.warn("model {}: the spend of a call (${}, {} tokens) could not be booked: {}", endpoint.name(),
              usd, tokens, e.getMessage());
        }
      }
    }

    /** Writes down in the folder's ledger, once per launch in this JVM, that the budget refused a call. */
    private void budgetRefused() {
      BudgetSpec spec = endpoint.budget();
      if (callLedger == null || !BUDGET_CLOSED_SAID.add(spec.runId() + "/" + spec.launch())) {
        return;
      }
      try {
        callLedger.budgetClosed(spec.launch(), spec.maxCostUsd(), spec.maxTokens());
      } catch (RuntimeException e) {
        LOG.warn("model {}: could not write the budget's stop in the call ledger: {}", endpoint.name(), e.getMessage());
      }
    }

    private void cacheError(CacheException e) {
      if (CACHE_ERRORS.incrementAndGet() <= 5) {
        LOG.warn("response cache: {} (the call goes on without it)", e.getMessage());
      }
    }

    /** Calls of this model running right now in this JVM. */
    public int inFlight() {
      return entry.inFlight.get();
    }

    public synchronized void release() {
      if (!released) {
        released = true;
        SharedModelClients.release(endpoint.sharingKey(), entry, () -> {
          if (cache != null) {
            SharedCaches.release(endpoint.cache());
          }
          if (ledger != null) {
            BudgetLedger.release(ledger);
          }
          if (budgetStore != null) {
            SharedCoordinators.release(endpoint.budgetCoordination());
          }
          dev.moaa.transforms.budget.CallLedger.release(callLedger);
        });
      }
    }
  }
}
