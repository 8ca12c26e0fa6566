package dev.moaa.pipelines;

import dev.moaa.schemas.DeadLetter;
import dev.moaa.transforms.moa.Windowing;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
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
  }

  private static <T> PCollection<String> count(String name, PCollection<T> items) {
    return items
        .apply("Count/" + name + "/Window", Windowing.<T>restoreDefault())
        .apply("Count/" + name, Count.globally())
        .apply("Count/" + name + "/Label", MapElements.into(TypeDescriptors.strings()).via(n -> name + "\t" + n));
  }
}
