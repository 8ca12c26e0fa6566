package dev.moaa.pipelines;

import dev.moaa.schemas.DeadLetter;
import dev.moaa.transforms.moa.Windowing;
import dev.moaa.transforms.moa.ModelCallFn;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PDone;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.Sum;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * The counts that reconcile a run, counted from the data itself (not from metrics, which a runner
 * may count twice on a retry) and written to {@code _run/counts.tsv}: records read (parsed and
 * refused), written, dead-lettered (with a count per reason) and dropped.
 */
public final class Tally {
  public static final String COUNTS_FILE = "_run/counts.tsv";

  private Tally() {}

  public static <R, P> void write(String outputDir, PCollection<P> parsed, PCollection<DeadLetter> readFailed,
      PCollection<R> written, PCollection<DeadLetter> deadLettered, PCollection<?> dropped) {
    PCollection<String> reasons = deadLettered
        .apply("DeadLetterReason", MapElements.into(TypeDescriptors.strings()).via(DeadLetter::getReason))
        .apply("CountReasons", Count.perElement())
        .apply("LabelReasons", MapElements.into(TypeDescriptors.strings())
            .via((KV<String, Long> kv) -> "reason:" + kv.getKey() + "\t" + kv.getValue()));
    PCollectionList.of(count("read_ok", parsed))
        .and(count("read_failed", readFailed))
        .and(count("written", written))
        .and(count("dead_lettered", deadLettered))
        .and(count("dropped", dropped))
        .and(reasons)
        .apply("AllCounts", Flatten.pCollections())
        .apply("WriteCounts", TextIO.write().to(outputDir + COUNTS_FILE).withoutSharding());
    parsed.apply("Progress/Read", CountRows.as(ROWS_READ));
    readFailed.apply("Progress/Refused", CountRows.as(ROWS_READ));
    written.apply("Progress/Written", CountRows.as(ROWS_WRITTEN));
    deadLettered.apply("Progress/DeadLettered", CountRows.as(ROWS_DEAD_LETTERED));
    dropped.apply("Progress/Dropped", CountRows.as(ROWS_DROPPED));
  }

  /**
   * Live Beam counters (namespace {@value ModelCallFn#NAMESPACE}) of the same four figures, counted
   * as rows pass: what the progress line reads on the DirectRunner and what the Flink web UI shows.
   * Unlike {@code counts.tsv} they may count a retried bundle twice; they are for watching, not for
   * reconciling.
   */
  public static final String ROWS_READ = "rows_read";
  public static final String ROWS_WRITTEN = "rows_written";
  public static final String ROWS_DEAD_LETTERED = "rows_dead_lettered";
  public static final String ROWS_DROPPED = "rows_dropped";

  /** Counts the rows of a collection into a counter and emits nothing. */
  static final class CountRows<T> extends PTransform<PCollection<T>, PDone> {
    private final String counter;

    private CountRows(String counter) {
      this.counter = counter;
    }

    static <T> CountRows<T> as(String counter) {
      return new CountRows<>(counter);
    }

    @Override
    public PDone expand(PCollection<T> rows) {
      rows.apply("Count", ParDo.of(new CountFn<T>(counter)));
      return PDone.in(rows.getPipeline());
    }
  }

  static final class CountFn<T> extends DoFn<T, Void> {
    private static final long serialVersionUID = 1L;
    private final Counter rows;

    CountFn(String counter) {
      this.rows = Metrics.counter(ModelCallFn.NAMESPACE, counter);
    }

    @ProcessElement
    public void processElement() {
      rows.inc();
    }
  }

  /**
   * Counts in each bundle and sums the bundles' counts, so that what reaches the final combine is
   * one number per bundle, not one element per row: a runner that does not lift combiners (the
   * DirectRunner) would otherwise hold every row of the collection in one group.
   */
  private static <T> PCollection<String> count(String name, PCollection<T> items) {
    return items
        .apply("Count/" + name + "/Window", Windowing.<T>restoreDefault())
        .apply("Count/" + name + "/PerBundle", ParDo.of(new CountPerBundleFn<T>()))
        .apply("Count/" + name, Sum.longsGlobally())
        .apply("Count/" + name + "/Label", MapElements.into(TypeDescriptors.strings()).via(n -> name + "\t" + n));
  }

  /** Emits, when a bundle ends, how many rows it held (nothing for an empty bundle). */
  static final class CountPerBundleFn<T> extends DoFn<T, Long> {
    private static final long serialVersionUID = 1L;
    private transient long rows;

    @StartBundle
    public void startBundle() {
      rows = 0;
    }

    @ProcessElement
    public void processElement() {
      rows++;
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext c) {
      if (rows > 0) {
        c.output(rows, GlobalWindow.INSTANCE.maxTimestamp(), GlobalWindow.INSTANCE);
      }
    }
  }
}
