package dev.moaa.pipelines;

import dev.moaa.schemas.DeadLetter;
import dev.moaa.transforms.io.ReadConversations;
import dev.moaa.transforms.io.WriteJsonLines;
import dev.moaa.transforms.io.WriteLineFiles;
import dev.moaa.transforms.moa.CallMetrics;
import dev.moaa.transforms.moa.LiveCounters;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.avro.generic.IndexedRecord;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Sum;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * The counts that reconcile a run, counted from the data itself (not from metrics, which a runner
 * may count twice on a retry) and written to {@code _run/counts.tsv}: records read (parsed and
 * refused), written, dead-lettered (with a count per reason) and dropped. The dead letters and
 * dropped rows themselves are written by the same file write ({@link WriteLineFiles}).
 *
 * <p>Each collection is counted per bundle (a bundle's count is an output, so a retried bundle's
 * count is replaced, not added) and all counts are summed in one combine: what reaches it is one
 * number per bundle, not one element per row (a runner that does not lift combiners, such as the
 * DirectRunner, would otherwise hold every row in one group), and the graph stays small (the
 * DirectRunner's scheduling cost grows with the number of steps).
 */
public final class Tally {
  public static final String COUNTS_FILE = "_run/counts.tsv";
  static final String REASON_PREFIX = "reason:";
  private static final List<String> NAMES = List.of("read_ok", "read_failed", "written", "dead_lettered", "dropped");

  private Tally() {}

  /**
   * Writes the run's dead letters ({@code dead-letters/}), dropped rows ({@code dropped/}) and the
   * counts of all five collections ({@value #COUNTS_FILE}) in one file write.
   */
  public static <R, P> void write(String outputDir, PCollection<P> parsed, PCollection<DeadLetter> readFailed,
      PCollection<R> written, PCollection<DeadLetter> deadLettered, PCollection<? extends IndexedRecord> dropped) {
    Pipeline p = parsed.getPipeline();
    List<KV<String, Long>> zeros = new ArrayList<>();
    NAMES.forEach(n -> zeros.add(KV.of(n, 0L)));
    PCollection<KV<String, Long>> reasons = deadLettered
        .apply("Count/reasons", ParDo.of(new CountReasonsPerBundleFn()));
    PCollection<KV<String, String>> counts = PCollectionList.of(p.apply("Count/zeros", Create.of(zeros)
            .withCoder(KvCoder.of(StringUtf8Coder.of(), VarLongCoder.of()))))
        .and(count("read_ok", null, parsed))
        .and(count("read_failed", null, readFailed))
        .and(count("written", ROWS_WRITTEN, written))
        .and(count("dead_lettered", ROWS_DEAD_LETTERED, deadLettered))
        .and(count("dropped", ROWS_DROPPED, dropped))
        .and(reasons)
        .apply("AllCounts", Flatten.pCollections())
        .apply("SumCounts", Sum.longsPerKey())
        .apply("LabelCounts", MapElements.into(LINE)
            .via((KV<String, Long> kv) -> KV.of(COUNTS_FILE, kv.getKey() + "\t" + kv.getValue())));
    PCollection<KV<String, String>> deadLines = deadLettered
        .apply("DeadLetterLines", MapElements.into(LINE)
            .via((DeadLetter d) -> KV.of(SftPipeline.DEAD_LETTER_DIR, WriteJsonLines.toJson(d))));
    PCollection<KV<String, String>> droppedLines = dropped
        .apply("DroppedLines", MapElements.into(LINE)
            .via((IndexedRecord d) -> KV.of(SftPipeline.DROPPED_DIR, WriteJsonLines.toJson(d))));
    PCollectionList.of(deadLines).and(droppedLines).and(counts)
        .apply("AllRunLines", Flatten.pCollections())
        .setCoder(KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of()))
        .apply("WriteRunFiles", WriteLineFiles.to(outputDir).withSingleFile(COUNTS_FILE));
  }

  private static final TypeDescriptor<KV<String, String>> LINE =
      TypeDescriptors.kvs(TypeDescriptors.strings(), TypeDescriptors.strings());

  /**
   * Live Beam counters (namespace {@value CallMetrics#NAMESPACE}) of the same four figures, counted
   * as rows pass: what the progress line reads (on Flink's embedded runner from this JVM's sums, see
   * {@link LiveCounters}) and what the Flink web UI shows.
   * Unlike {@code counts.tsv} they may count a retried bundle twice; they are for watching, not for
   * reconciling.
   */
  public static final String ROWS_READ = ReadConversations.ROWS_READ;
  public static final String ROWS_WRITTEN = "rows_written";
  public static final String ROWS_DEAD_LETTERED = "rows_dead_lettered";
  public static final String ROWS_DROPPED = "rows_dropped";

  private static <T> PCollection<KV<String, Long>> count(String name, String counter, PCollection<T> items) {
    return items
        .apply("Count/" + name, ParDo.of(new CountPerBundleFn<T>(name, counter)));
  }

  /**
   * Counts the rows of each bundle: a live counter as they pass (when one is named; rows read are
   * counted live where they are parsed), and the bundle's count, under
   * {@code name}, when the bundle ends (nothing for an empty bundle).
   */
  static final class CountPerBundleFn<T> extends DoFn<T, KV<String, Long>> {
    private static final long serialVersionUID = 1L;
    private final String name;
    private final Counter live;
    private transient long rows;

    CountPerBundleFn(String name, String counter) {
      this.name = name;
      this.live = counter == null ? null : LiveCounters.counter(counter);
    }

    @StartBundle
    public void startBundle() {
      rows = 0;
    }

    @ProcessElement
    public void processElement() {
      rows++;
      if (live != null) {
        live.inc();
      }
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext c) {
      if (rows > 0) {
        c.output(KV.of(name, rows), GlobalWindow.INSTANCE.maxTimestamp(), GlobalWindow.INSTANCE);
      }
    }
  }

  /** Dead letters per reason in each bundle, under {@code reason:REASON}. */
  static final class CountReasonsPerBundleFn extends DoFn<DeadLetter, KV<String, Long>> {
    private static final long serialVersionUID = 1L;
    private transient Map<String, Long> reasons;

    @StartBundle
    public void startBundle() {
      reasons = new TreeMap<>();
    }

    @ProcessElement
    public void processElement(@Element DeadLetter d) {
      reasons.merge(REASON_PREFIX + d.getReason(), 1L, Long::sum);
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext c) {
      reasons.forEach((k, v) -> c.output(KV.of(k, v), GlobalWindow.INSTANCE.maxTimestamp(), GlobalWindow.INSTANCE));
    }
  }
}
