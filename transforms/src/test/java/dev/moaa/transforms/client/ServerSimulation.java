package dev.moaa.transforms.client;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import java.util.Random;
import java.util.function.DoubleSupplier;

/**
 * A deterministic event simulation, on a virtual clock, of one client with endless work behind a
 * {@link RequestGate} and one server: {@code slots} calls served at once, each for the service time,
 * the rest waiting in a FIFO queue; optionally answering 429 at once when a call would make more
 * than {@code rejectAbove} outstanding, and a client read timeout (the server keeps serving a call
 * its client gave up on, as a busy server does). Nothing sleeps; a run of minutes takes milliseconds.
 */
final class ServerSimulation {
  static final long MS = 1_000_000L;

  /** What one stretch of a run looked like. */
  record Window(double throughputPerSecond, double medianLatencyMs, double meanInFlight, double minLimit,
      double maxLimit, double meanLimit, long rateLimited, long timedOut) {
    @Override
    public String toString() {
      return String.format("throughput %.1f/s, median latency %.0f ms, in flight %.1f (limit %.1f..%.1f, mean %.1f),"
          + " 429s %d, timeouts %d", throughputPerSecond, medianLatencyMs, meanInFlight, minLimit, maxLimit,
          meanLimit, rateLimited, timedOut);
    }
  }

  private static final class Call {
    final RequestGate.Permit permit;
    final long sentAt;
    boolean ended;

    Call(RequestGate.Permit permit, long sentAt) {
      this.permit = permit;
      this.sentAt = sentAt;
    }
  }

  private record Event(long at, long seq, Runnable action) {}

  private final PriorityQueue<Event> events =
      new PriorityQueue<>(Comparator.comparingLong(Event::at).thenComparingLong(Event::seq));
  private final ArrayDeque<Call> queue = new ArrayDeque<>();
  private final List<long[]> answered = new ArrayList<>(); // end, latency
  private final List<long[]> rejected = new ArrayList<>(); // end, 1 = 429, 2 = timeout
  private final List<double[]> trace = new ArrayList<>(); // time, limit, in flight
  private long now;
  private long seq;
  private int slots;
  private long serviceNanos;
  private DoubleSupplier serviceFactor = () -> 1.0;
  private int rejectAbove;
  private long retryAfterMs = -1;
  private long readTimeoutNanos;
  private int serving;
  final RequestGate gate;

  ServerSimulation(int maxConcurrency, RateLimits limits, int slots, long serviceMs) {
    this.gate = new RequestGate(maxConcurrency, limits, () -> now);
    this.slots = slots;
    this.serviceNanos = serviceMs * MS;
    schedule(0, this::tick);
  }

  /** Answers 429 (with {@code retryAfterMs}, or -1 for none) to a call that would make more than {@code cap} outstanding. */
  ServerSimulation rejectingAbove(int cap, long retryAfterMs) {
    this.rejectAbove = cap;
    this.retryAfterMs = retryAfterMs;
    return this;
  }

  ServerSimulation readTimeoutMs(long ms) {
    this.readTimeoutNanos = ms * MS;
    return this;
  }

  /** Service times vary: the service time times a log-normal factor of median 1 and spread {@code sigma}. */
  ServerSimulation varying(long seed, double sigma) {
    Random r = new Random(seed);
    this.serviceFactor = () -> Math.exp(sigma * r.nextGaussian());
    return this;
  }

  /** From {@code atMs} on, the server has {@code slots} slots and serves a call in {@code serviceMs}. */
  ServerSimulation changeAt(long atMs, int slots, long serviceMs) {
    schedule(atMs * MS, () -> {
      this.slots = slots;
      this.serviceNanos = serviceMs * MS;
      startQueued();
    });
    return this;
  }

  void runUntil(long ms) {
    long end = ms * MS;
    while (!events.isEmpty() && events.peek().at() <= end) {
      Event e = events.poll();
      now = e.at();
      e.action().run();
    }
    now = end;
  }

  Window window(long fromMs, long toMs) {
    long from = fromMs * MS;
    long to = toMs * MS;
    long[] lat = answered.stream().filter(a -> a[0] >= from && a[0] < to).mapToLong(a -> a[1]).sorted().toArray();
    double[][] tr = trace.stream().filter(t -> t[0] >= from && t[0] < to).toArray(double[][]::new);
    long r429 = rejected.stream().filter(r -> r[0] >= from && r[0] < to && r[1] == 1).count();
    long rTimeout = rejected.stream().filter(r -> r[0] >= from && r[0] < to && r[1] == 2).count();
    return new Window(lat.length / ((toMs - fromMs) / 1000.0),
        lat.length == 0 ? Double.NaN : lat[lat.length / 2] / (double) MS,
        Arrays.stream(tr).mapToDouble(t -> t[2]).average().orElse(Double.NaN),
        Arrays.stream(tr).mapToDouble(t -> t[1]).min().orElse(Double.NaN),
        Arrays.stream(tr).mapToDouble(t -> t[1]).max().orElse(Double.NaN),
        Arrays.stream(tr).mapToDouble(t -> t[1]).average().orElse(Double.NaN),
        r429, rTimeout);
  }

  private void schedule(long at, Runnable action) {
    events.add(new Event(at, seq++, action));
  }

  private void tick() {
    fill();
    RequestGate.Stats s = gate.stats();
    trace.add(new double[] {now, s.limit(), s.inFlight()});
    schedule(now + 10 * MS, this::tick);
  }

  /** The client: sends a call for every slot the gate opens. */
  private void fill() {
    RequestGate.Permit p;
    while ((p = gate.tryAcquire(100)) != null) {
      send(new Call(p, now));
    }
  }

  private void send(Call call) {
    if (readTimeoutNanos > 0) {
      schedule(now + readTimeoutNanos, () -> end(call, RequestGate.Result.TIMEOUT));
    }
    if (rejectAbove > 0 && serving + queue.size() >= rejectAbove) {
      schedule(now + 2 * MS, () -> end(call, RequestGate.Result.RATE_LIMITED));
    } else if (serving < slots) {
      serve(call);
    } else {
      queue.add(call);
    }
  }

  private void serve(Call call) {
    serving++;
    long service = Math.max(MS, Math.round(serviceNanos * serviceFactor.getAsDouble()));
    schedule(now + service, () -> {
      serving--;
      startQueued();
      end(call, RequestGate.Result.SUCCESS);
    });
  }

  private void startQueued() {
    while (serving < slots && !queue.isEmpty()) {
      serve(queue.poll());
    }
  }

  private void end(Call call, RequestGate.Result result) {
    if (call.ended) {
      return;
    }
    call.ended = true;
    switch (result) {
      case SUCCESS -> {
        gate.release(call.permit, result, 500, -1);
        answered.add(new long[] {now, now - call.sentAt});
      }
      case RATE_LIMITED -> {
        gate.release(call.permit, result, -1, retryAfterMs);
        rejected.add(new long[] {now, 1});
      }
      default -> {
        gate.release(call.permit, result, -1, -1);
        rejected.add(new long[] {now, 2});
      }
    }
    fill();
  }
}
