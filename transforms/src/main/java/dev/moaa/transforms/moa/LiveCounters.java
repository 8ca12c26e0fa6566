package dev.moaa.transforms.moa;

import java.io.Serializable;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.MetricName;
import org.apache.beam.sdk.metrics.Metrics;

/**
 * The product's counters of namespace {@value CallMetrics#NAMESPACE}, kept twice: as Beam metrics
 * (what the DirectRunner's result, Flink's web UI and the end of a run read) and as plain sums in
 * this JVM, which a run can read while it goes on a runner whose result only exists at the end:
 * Flink's embedded mini-cluster runs in this JVM, and its {@code run()} returns when the job is done.
 * The JVM's sums only ever grow; a run reads them as the difference from a {@link #snapshot()}
 * taken when it starts. On a Flink cluster the TaskManagers hold their own sums, which nobody reads.
 */
public final class LiveCounters {
  private LiveCounters() {}

  private static final Map<String, LongAdder> SUMS = new ConcurrentHashMap<>();

  /** A counter named {@code name} in the product's namespace, counted as a Beam metric and in this JVM. */
  public static Counter counter(String name) {
    return new Mirrored(name);
  }

  /** Every counter's sum in this JVM so far, by name. */
  public static Map<String, Long> snapshot() {
    Map<String, Long> s = new TreeMap<>();
    SUMS.forEach((k, v) -> s.put(k, v.sum()));
    return s;
  }

  /** {@code now} less {@code before}, name by name (names missing from {@code before} count from 0). */
  public static Map<String, Long> since(Map<String, Long> before, Map<String, Long> now) {
    Map<String, Long> d = new TreeMap<>();
    now.forEach((k, v) -> d.put(k, v - before.getOrDefault(k, 0L)));
    return d;
  }

  private static LongAdder sum(String name) {
    return SUMS.computeIfAbsent(name, n -> new LongAdder());
  }

  /** Beam's counter and this JVM's sum; the sum is looked up again after deserialization. */
  private static final class Mirrored implements Counter, Serializable {
    private static final long serialVersionUID = 1L;
    private final Counter beam;
    private final String name;
    private transient LongAdder local;

    Mirrored(String name) {
      this.beam = Metrics.counter(CallMetrics.NAMESPACE, name);
      this.name = name;
    }

    private LongAdder local() {
      LongAdder l = local;
      if (l == null) {
        l = sum(name);
        local = l;
      }
      return l;
    }

    @Override
    public void inc() {
      beam.inc();
      local().increment();
    }

    @Override
    public void inc(long n) {
      beam.inc(n);
      local().add(n);
    }

    @Override
    public void dec() {
      inc(-1);
    }

    @Override
    public void dec(long n) {
      inc(-n);
    }

    @Override
    public MetricName getName() {
      return beam.getName();
    }
  }
}
