package dev.moaa.transforms.client;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The latency-aware part of {@link RequestGate}'s adaptive limit: reads the gate's own calls to
 * tell when the endpoint is queueing them, and says how far to cut. Not thread-safe: the gate calls
 * it under its lock, with the clock's time passed in.
 *
 * <p><b>Readings.</b> A reading is the median latency (admission to release) of a cohort: the next
 * {@code window} calls admitted, or the current limit's worth, or as many as it takes for the
 * median to be known to within the tolerance (2.5 standard errors, from the spread of latencies seen
 * so far: 16 calls at a log-normal spread of 0.5, 60 at 1, at most 256), with the mean number in
 * flight when they were admitted. A cohort is read as soon as its median is settled: when every
 * call still running has already run longer than it. Reading calls by admission, not the first
 * ones to end, matters after a cut: those are the short ones. The median, because one long
 * generation among short ones would drag a mean far enough to look like a queue. A cut, a probe
 * or a 429 discards the cohorts admitted before it. Calls that end in a 429 or an error leave their
 * cohort; a timeout counts at the time it gave up.
 *
 * <p><b>Raw latency, not per token.</b> Every call of a gate goes to one model of one endpoint, so
 * a reading and the baseline describe the same mix of calls, and the cohort's size absorbs how much
 * that mix spreads. Per total token would be worse than raw (a long prompt with a short answer and a
 * short prompt with a long answer differ tens of times per token); per completion token needs the
 * completion count apart from the prompt's, which {@link RequestGate#release} is not given.
 *
 * <p><b>Baseline</b>, the latency when nothing waits: the first reading, then any reading that
 * comes out lower than it beyond its standard error twice running (the server got faster), or once
 * in the first {@value #WARM_UP_READINGS} readings (the first calls pay for connections and a cold
 * JIT: a baseline read then let slow start run into the server's queue unseen).
 *
 * <p><b>The quickest quarter</b> of each reading (its lower quartile) has a baseline of its own,
 * set with the median's. A queue delays every call and moves both; a cold start (a run's first
 * calls wait for connections, a cold JIT and a busy process) delays some calls and moves the median
 * far more than the quarter. Measured on a server with 8 slots: a first reading at 7 in flight had
 * a median of 429 ms and a quickest quarter of 223 ms for 200 ms calls; read by the median alone,
 * the next readings' 400 ms at 16 in flight looked like no queue and slow start ran on to 64. So in
 * the first {@value #WARM_UP_READINGS} readings, before any cut or probe, a quickest quarter above
 * half the tolerance also says a queue is forming and stops growth. It never cuts: with a real
 * spread of latencies the quarter of a small reading is a noisy figure, and cuts it set off on a
 * server that did not queue cost throughput.
 *
 * <p><b>Cut.</b> Two readings running above {@code tolerance} times the baseline (and by more than
 * {@value #JITTER_MS} ms) mean calls are waiting in a queue. By Little's law the server serves about
 * {@code inFlight × baseline / reading} without one; the limit goes there plus a queue allowance of
 * half its square root (so no slot idles while the next call is on its way), never below half of
 * what was in flight, never below one. Growth stops from the first high reading.
 *
 * <p><b>A cut checks itself.</b> A queue shrinks as the calls behind it do: the reading after a
 * cut must fall by at least half as much as the concurrency did. When it does not, the server got
 * slower for everyone (heavier calls, another tenant, a smaller batch), not fuller: the baseline is
 * reset to the new reading and the cut undone. The baseline rises only on that evidence, never by a
 * blind decay, which under a steady queue would climb with it and let the limit creep up.
 *
 * <p><b>Probes.</b> A baseline read in a queue (the first one, at the initial concurrency, or one
 * reset by a check that a change of server fooled) would be too high and hide the queue for good.
 * So after the first cut, after a reset, and then every {@value #PROBE_EVERY} readings while
 * latency holds the limit down, the limit is halved for one reading. A reading below the baseline
 * becomes the baseline; the limit halves again only while the fall is one a queue explains (by more
 * than the square root of the tolerance): the client's own overhead also grows a little with the
 * calls in flight, and chasing that slope halved a limit of ten down to one for seconds. Then the
 * limit is restored, scaled by how far the baseline fell.
 *
 * <p><b>From the top.</b> A limit that starts at {@code max_concurrency} has no slow start. Its
 * first reading is of the fewest calls that make one, sent together into an empty server: the
 * quickest quarter of them did not wait, whatever queue the burst made behind them. When the
 * burst's median is within the square root of the tolerance of that quarter, nothing queued: the
 * quarter is the baseline and the limit stays at the top with no probe (a probe would cost an
 * endpoint that does not queue half its calls for a round trip). A spread burst (a queue, or cold
 * connections) is not read: the next reading is the baseline and a probe starts at once, so a queue
 * the start made is found from above within a few readings.
 */
final class LatencyLimit {
  /** A rise smaller than this is the client's and the network's jitter, not a queue. */
  static final long JITTER_MS = 5;
  private static final long JITTER_NANOS = TimeUnit.MILLISECONDS.toNanos(JITTER_MS);
  /** Readings between probes of the no-load latency (only while latency holds the limit down). */
  static final int PROBE_EVERY = 30;
  /** Readings during which one reading below the baseline moves it (the client is still warming up). */
  static final int WARM_UP_READINGS = 4;
  private static final int MAX_READING = 256;
  private static final long RUNNING = -1;
  private static final long DROPPED = -2;

  /** The calls admitted for one reading. */
  static final class Cohort {
    final long id;
    final int size;
    final long[] admittedAt;
    final long[] latency;
    int admitted;
    int ended;
    int dropped;
    double inFlightSum;
    boolean read;

    Cohort(long id, int size) {
      this.id = id;
      this.size = size;
      this.admittedAt = new long[size];
      this.latency = new long[size];
    }
  }

  /** A call's place in its reading. */
  record Ticket(Cohort cohort, int slot) {}

  private final boolean acts;
  private final boolean fromTheTop;
  private boolean startSkipped;
  private final double tolerance;
  private final int window;
  private Cohort open;
  private long nextCohort;
  private long validFrom;
  private double spread = Double.NaN;
  private double noise = 1;
  private double baseline = Double.NaN;
  private double recent = Double.NaN;
  /** The baseline and the last reading of the quickest quarter of a cohort (see the class comment). */
  private double quickBaseline = Double.NaN;
  private double recentQuick = Double.NaN;
  private double windowStartLimit;
  private int over;
  private double lower;
  private boolean checking;
  private double cutLatency;
  private double cutInFlight;
  private double limitBeforeCut;
  private long readings;
  private long lastProbe;
  private boolean probed;
  private boolean cutSinceProbe;
  private boolean probing;
  private double probeRestore;
  private double probeBaseline;
  private long cuts;

  /**
   * {@code acts} false: readings for the gate's stats only, the limit left to 429s and timeouts.
   * {@code fromTheTop}: the limit starts at its maximum ({@code max_concurrency}), so its first
   * reading is taken at the most the config allows, perhaps in a queue it made at once: it is
   * probed at once.
   */
  LatencyLimit(AdaptiveLimit config, boolean acts, double initialLimit, boolean fromTheTop) {
    this.acts = acts && config.mode() == AdaptiveLimit.Mode.LATENCY;
    this.tolerance = config.tolerance();
    this.window = config.window();
    this.windowStartLimit = initialLimit;
    this.fromTheTop = fromTheTop;
  }

  /** Enrols a call admitted now, with {@code inFlight} calls in flight counting it. */
  Ticket admit(long now, int inFlight, double limit) {
    if (open == null || open.admitted == open.size) {
      // from the top, the first reading is skipped: the fewest calls that make one pass it soonest
      open = new Cohort(nextCohort, nextCohort == 0 && fromTheTop && acts ? window : readingSize(limit));
      nextCohort++;
    }
    int slot = open.admitted++;
    open.admittedAt[slot] = now;
    open.latency[slot] = RUNNING;
    open.inFlightSum += inFlight;
    return new Ticket(open, slot);
  }

  /**
   * Ends an enrolled call: {@code counted} when its latency says something (a success, or a timeout
   * at the time it gave up), otherwise it leaves its reading. Returns the limit after it: {@code
   * limit} as it was, lower after a cut or for a probe, higher when a cut is undone or a probe ends.
   */
  double ended(double limit, Ticket ticket, boolean counted, long latencyNanos, long now) {
    Cohort c = ticket.cohort();
    if (c.id < validFrom || c.read) {
      return limit;
    }
    c.latency[ticket.slot()] = counted ? latencyNanos : DROPPED;
    c.ended++;
    if (!counted) {
      c.dropped++;
    }
    if (c == open && c.admitted < c.size) {
      return limit;
    }
    int members = c.admitted - c.dropped;
    if (members < Math.max(4, c.size / 2)) {
      if (c.ended == c.admitted) {
        c.read = true; // too many left it (429s, errors) to say anything
      }
      return limit;
    }
    long[] done = new long[c.ended - c.dropped];
    long lastRunning = Long.MIN_VALUE;
    boolean running = false;
    for (int i = 0, j = 0; i < c.admitted; i++) {
      if (c.latency[i] >= 0) {
        done[j++] = c.latency[i];
      } else if (c.latency[i] == RUNNING) {
        running = true;
        lastRunning = Math.max(lastRunning, c.admittedAt[i]);
      }
    }
    int rank = (members - 1) / 2;
    if (done.length <= rank) {
      return limit;
    }
    Arrays.sort(done);
    long median = done[rank];
    if (running && now - lastRunning < median) {
      return limit; // a call still running may yet end below the median
    }
    c.read = true;
    validFrom = Math.max(validFrom, c.id + 1);
    long quartile = done[(members - 1) / 4];
    double sigma = Math.log(Math.max(1, median) / (double) Math.max(1, quartile)) / 0.6745;
    spread = Double.isNaN(spread) ? sigma : spread + (sigma - spread) / 4;
    noise = Math.exp(2.5 * 1.2533 * spread / Math.sqrt(members));
    recent = median;
    recentQuick = quartile;
    double next = decide(limit, median, quartile, c.inFlightSum / c.admitted);
    windowStartLimit = next;
    return next;
  }

  /**
   * Whether latency fell from the first reading to the second as a queue would: by at least half as
   * much as the calls in flight did (a queue of n calls takes n times as long to pass).
   */
  private static boolean fellAsAQueue(double latency1, double inFlight1, double latency2, double inFlight2) {
    double concurrencyFell = 1 - inFlight2 / inFlight1;
    return concurrencyFell >= 0.1 && 1 - latency2 / latency1 >= 0.5 * concurrencyFell;
  }

  /**
   * Calls in a reading: {@code window}, the current limit's worth, and enough that the median is
   * known to within the tolerance over 2.5 standard errors, given the spread of the latencies (the
   * log-normal sigma estimated from the quartiles): 16 calls for a spread of 0.5, 60 for 1.
   */
  private int readingSize(double limit) {
    int n = Math.max(window, (int) Math.ceil(limit));
    if (!Double.isNaN(spread)) {
      double se = 2.5 * 1.2533 * spread / Math.log(tolerance);
      n = Math.max(n, (int) Math.min(MAX_READING, Math.ceil(se * se)));
    }
    return n;
  }

  private double decide(double limit, double reading, double quickest, double inFlight) {
    if (Double.isNaN(baseline)) {
      if (acts && fromTheTop && !startSkipped) {
        // The first calls went out together into an empty server: its quickest quarter was served
        // without waiting, whatever queue the burst made behind them. When the rest took about as
        // long, nothing queued: the top stands, with no probe. When they took longer, a queue or a
        // cold start did: the next reading is the baseline and a probe looks below at once.
        startSkipped = true;
        if (reading <= Math.sqrt(tolerance) * quickest || reading - quickest <= JITTER_NANOS) {
          baseline = quickest;
          quickBaseline = quickest;
          lastProbe = readings - PROBE_EVERY; // a probe after the first cut, as for any first baseline
        }
        return limit;
      }
      baseline = reading;
      quickBaseline = quickest;
      lastProbe = readings - PROBE_EVERY; // the first baseline may have been read in a queue: probe after the first cut
      return acts && fromTheTop && limit >= 4 ? startProbe(limit) : limit; // read at the top after a spread burst: look below at once
    }
    readings++;
    if (probing) {
      if (reading * noise < baseline) {
        boolean queued = reading * Math.sqrt(tolerance) < baseline && baseline - reading > JITTER_NANOS;
        baseline = reading * noise; // the baseline was too high (by at least this much)
        quickBaseline = quickest * noise;
        if (queued && limit > 1) {
          forgetReadings(); // by as much as a queue would explain: look lower still
          return Math.max(1, limit / 2);
        }
      }
      probing = false;
      lastProbe = readings;
      cutSinceProbe = false;
      return Math.max(limit, probeRestore * baseline / probeBaseline); // as many as before, unless they queued
    }
    if (checking) {
      checking = false;
      if (inFlight <= 0.9 * cutInFlight && !fellAsAQueue(cutLatency, cutInFlight, reading, inFlight)) {
        baseline = reading;
        quickBaseline = quickest;
        lastProbe = readings - PROBE_EVERY; // if the server was not slower after all, the next probe finds out
        return Math.max(limit, limitBeforeCut);
      }
    }
    if (reading * noise < baseline) {
      if (readings <= WARM_UP_READINGS) {
        baseline = reading; // the first readings are slowed by the warm-up (connections, JIT)
        quickBaseline = quickest;
        lower = 0;
      } else if (lower > 0) {
        baseline = Math.max(lower, reading); // twice lower: the server got faster
        quickBaseline = quickest;
        lower = 0;
      } else {
        lower = reading;
      }
    } else {
      lower = 0;
    }
    if (reading <= tolerance * baseline || reading - baseline <= JITTER_NANOS) {
      over = 0;
      return acts && cutSinceProbe && readings - lastProbe >= PROBE_EVERY ? startProbe(limit) : limit;
    }
    if (inFlight < 1.5) {
      baseline = reading; // calls that hardly overlap cannot be queueing behind each other
      quickBaseline = quickest;
      over = 0;
      return limit;
    }
    if (!acts) {
      return limit;
    }
    if (++over < 2) {
      return limit;
    }
    over = 0;
    double unqueued = inFlight * baseline / reading;
    double target = unqueued + Math.sqrt(unqueued) / 2;
    double next = Math.min(limit, Math.max(Math.max(1, target), 0.5 * Math.min(limit, inFlight)));
    if (next < limit) {
      checking = true;
      cutSinceProbe = true;
      cutLatency = reading;
      cutInFlight = inFlight;
      limitBeforeCut = limit;
      forgetReadings();
      cuts++;
    }
    return next;
  }

  /** Halves the limit for one reading of the no-load latency; restored when the probe ends. */
  private double startProbe(double limit) {
    probing = true;
    probed = true;
    probeRestore = limit;
    probeBaseline = baseline;
    forgetReadings();
    return Math.max(1, limit / 2);
  }

  /** Another signal cut the limit: calls admitted before it no longer say anything. */
  void cutElsewhere(double limit) {
    forgetReadings();
    limitBeforeCut = Math.min(limitBeforeCut, limit); // a latency cut being checked is undone only this far
    probing = false;
    over = 0;
    windowStartLimit = limit;
  }

  /** Calls admitted until now were admitted under a limit that no longer holds. */
  private void forgetReadings() {
    validFrom = nextCohort;
    open = null;
  }

  /** Whether the limit is lowered for a probe reading, not cut. */
  boolean probing() {
    return probing;
  }

  /**
   * How far success may grow the limit before the next reading: not at all while the last reading
   * was high, a queue is forming, or a cut or a probe is being read (so that reading sees the limit
   * it judges), to double in slow start, otherwise by a quarter (at least one). Where a reading spans many round trips
   * (a small limit), growing by one per round trip would outrun what the readings can see.
   */
  double growthCap(boolean slowStart) {
    if (!acts) {
      return Double.MAX_VALUE;
    }
    if (checking || probing || over > 0 || queueForming()) {
      return windowStartLimit;
    }
    return slowStart ? 2 * windowStartLimit : windowStartLimit + Math.max(1, windowStartLimit / 4);
  }

  /**
   * The last reading is above the baseline by more than half the tolerance: a queue is forming.
   * The limit holds there rather than grow on until the tolerance is passed and a cut follows; a
   * limit that only grows and is cut saws between the knee and the tolerance, with half its calls
   * queued.
   */
  private boolean queueForming() {
    double half = 1 + (tolerance - 1) / 2;
    return recent > baseline * half && recent - baseline > JITTER_NANOS
        || starting() && recentQuick > quickBaseline * half && recentQuick - quickBaseline > JITTER_NANOS;
  }

  /**
   * In the first readings, before any cut or probe: slow start, on a baseline that may have been
   * read cold. Afterwards the median alone says whether a queue is forming.
   */
  private boolean starting() {
    return cuts == 0 && !probed && readings <= WARM_UP_READINGS;
  }

  double baselineMs() {
    return baseline / 1e6;
  }

  double recentMs() {
    return recent / 1e6;
  }

  long cuts() {
    return cuts;
  }
}
