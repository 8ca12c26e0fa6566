package dev.moaa.runners.sim;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Request, status, fault, in-flight, queue and billed-token counters of one model (or of all
 * models together).
 */
final class ModelCounters {

  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger peakInFlight = new AtomicInteger();
  private final AtomicLong requests = new AtomicLong();
  private final AtomicLong received = new AtomicLong();
  private final AtomicInteger queued = new AtomicInteger();
  private final AtomicInteger peakQueued = new AtomicInteger();
  private final AtomicLong queueWaitMs = new AtomicLong();
  private final AtomicLong billedPromptTokens = new AtomicLong();
  private final AtomicLong billedCompletionTokens = new AtomicLong();
  private final AtomicLong billedReasoningTokens = new AtomicLong();
  private final AtomicLong withoutUsage = new AtomicLong();
  private final Map<Integer, AtomicLong> statuses = new ConcurrentHashMap<>();
  private final Map<FaultPlan.Fault, AtomicLong> faults = new ConcurrentHashMap<>();
  private final AtomicLong poisoned = new AtomicLong();
  private final AtomicLong busyMs = new AtomicLong();
  private final AtomicLong firstArrival = new AtomicLong();
  private final AtomicLong lastArrival = new AtomicLong();

  /**
   * Takes an in-flight slot unless {@code cap} (when positive) slots are already taken.
   *
   * @return whether the slot was taken; a caller that got one must {@link #release()} it
   */
  boolean tryAcquire(int cap) {
    if (!tryReserve(cap)) {
      return false;
    }
    admitted();
    return true;
  }

  /**
   * Takes an in-flight slot as {@link #tryAcquire(int)} does, but leaves the peak alone until
   * {@link #admitted()}: for a request that may yet be turned away.
   */
  boolean tryReserve(int cap) {
    while (true) {
      int current = inFlight.get();
      if (cap > 0 && current >= cap) {
        return false;
      }
      if (inFlight.compareAndSet(current, current + 1)) {
        return true;
      }
    }
  }

  /** Counts a reserved slot in the peak: its request is being processed. */
  void admitted() {
    raisePeak(inFlight.get());
  }

  void release() {
    inFlight.decrementAndGet();
  }

  /** Notes a request joining the queue of waiting requests. */
  void enqueue() {
    int now = queued.incrementAndGet();
    int peak = peakQueued.get();
    while (now > peak && !peakQueued.compareAndSet(peak, now)) {
      peak = peakQueued.get();
    }
  }

  /** Notes a request leaving the queue (for a slot, or because the endpoint closed). */
  void dequeue(long waitedMs) {
    queued.decrementAndGet();
    queueWaitMs.addAndGet(Math.max(0, waitedMs));
  }

  /** Notes a request naming this model, before anything is decided about it. */
  void countReceived() {
    received.incrementAndGet();
  }

  /** Adds the usage a 200 answer carried. */
  void countUsage(long promptTokens, long completionTokens, long reasoningTokens) {
    billedPromptTokens.addAndGet(promptTokens);
    billedCompletionTokens.addAndGet(completionTokens);
    billedReasoningTokens.addAndGet(reasoningTokens);
  }

  /** Notes a 200 answer sent without a usage object. */
  void countWithoutUsage() {
    withoutUsage.incrementAndGet();
  }

  void countRequest(int status) {
    requests.incrementAndGet();
    statuses.computeIfAbsent(status, s -> new AtomicLong()).incrementAndGet();
  }

  void countFault(FaultPlan.Fault fault) {
    if (fault != FaultPlan.Fault.NONE) {
      faults.computeIfAbsent(fault, f -> new AtomicLong()).incrementAndGet();
    }
  }

  /** Notes a request arriving at {@code nanos} ({@link System#nanoTime()}). */
  void countArrival(long nanos) {
    // handlers count in whatever order they run: the earliest arrival, not the first counted
    firstArrival.accumulateAndGet(nanos, (was, now) -> was == 0 ? now : Math.min(was, now));
    lastArrival.accumulateAndGet(nanos, Math::max);
  }

  void addBusy(long millis) {
    busyMs.addAndGet(Math.max(0, millis));
  }

  long busyMs() {
    return busyMs.get();
  }

  long[] arrivalSpanNanos() {
    return new long[] {firstArrival.get(), lastArrival.get()};
  }

  void countPoisoned() {
    poisoned.incrementAndGet();
  }

  int inFlight() {
    return inFlight.get();
  }

  int peakInFlight() {
    return peakInFlight.get();
  }

  long requests() {
    return requests.get();
  }

  long received() {
    return received.get();
  }

  int queued() {
    return queued.get();
  }

  int peakQueued() {
    return peakQueued.get();
  }

  long queueWaitMs() {
    return queueWaitMs.get();
  }

  long billedPromptTokens() {
    return billedPromptTokens.get();
  }

  long billedCompletionTokens() {
    return billedCompletionTokens.get();
  }

  long billedReasoningTokens() {
    return billedReasoningTokens.get();
  }

  long withoutUsage() {
    return withoutUsage.get();
  }

  long status(int status) {
    AtomicLong count = statuses.get(status);
    return count == null ? 0 : count.get();
  }

  /**
   * Forgets the counts; the peaks restart from the requests in flight, and in the queue, right
   * now.
   */
  void reset() {
    requests.set(0);
    received.set(0);
    queueWaitMs.set(0);
    billedPromptTokens.set(0);
    billedCompletionTokens.set(0);
    billedReasoningTokens.set(0);
    withoutUsage.set(0);
    peakQueued.set(queued.get());
    statuses.clear();
    faults.clear();
    poisoned.set(0);
    busyMs.set(0);
    firstArrival.set(0);
    lastArrival.set(0);
    peakInFlight.set(inFlight.get());
  }

  ObjectNode toJson() {
    ObjectNode out = JsonNodeFactory.instance.objectNode();
    out.put("received", received.get());
    out.put("requests", requests.get());
    out.put("ok", status(200));
    long serverErrors = 0;
    Map<Integer, Long> sorted = new TreeMap<>();
    for (Map.Entry<Integer, AtomicLong> entry : statuses.entrySet()) {
      sorted.put(entry.getKey(), entry.getValue().get());
      if (entry.getKey() >= 500) {
        serverErrors += entry.getValue().get();
      }
    }
    ObjectNode status = out.putObject("status");
    sorted.forEach((code, count) -> status.put(String.valueOf(code), count));
    out.put("rate_limited_429", status(429));
    out.put("server_errors_5xx", serverErrors);
    out.put("unauthorized_401", status(401));
    ObjectNode injected = out.putObject("injected_faults");
    injected.put("rate_limited", faultCount(FaultPlan.Fault.RATE_LIMITED));
    injected.put("server_error", faultCount(FaultPlan.Fault.SERVER_ERROR));
    injected.put("timeout", faultCount(FaultPlan.Fault.TIMEOUT));
    injected.put("malformed", faultCount(FaultPlan.Fault.MALFORMED));
    injected.put("empty", faultCount(FaultPlan.Fault.EMPTY));
    injected.put("poison", poisoned.get());
    out.put("in_flight", inFlight.get());
    out.put("peak_in_flight", peakInFlight.get());
    out.put("busy_ms", busyMs.get());
    out.put("queued", queued.get());
    out.put("peak_queued", peakQueued.get());
    out.put("queue_wait_ms", queueWaitMs.get());
    ObjectNode billed = out.putObject("billed_tokens");
    billed.put("prompt", billedPromptTokens.get());
    billed.put("completion", billedCompletionTokens.get());
    billed.put("reasoning", billedReasoningTokens.get());
    billed.put("total", billedPromptTokens.get() + billedCompletionTokens.get());
    out.put("answers_without_usage", withoutUsage.get());
    return out;
  }

  private long faultCount(FaultPlan.Fault fault) {
    AtomicLong count = faults.get(fault);
    return count == null ? 0 : count.get();
  }

  private void raisePeak(int candidate) {
    int peak = peakInFlight.get();
    while (candidate > peak && !peakInFlight.compareAndSet(peak, candidate)) {
      peak = peakInFlight.get();
    }
  }
}
