package dev.moaa.transforms.io;

import java.util.Objects;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.IndexedRecord;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PDone;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes Avro records as JSON lines (plain JSON: unions unwrapped, nulls kept), e.g. dead letters
 * to {@code <dir>/part-SSSSS-of-NNNNN.jsonl}.
 */
public final class WriteJsonLines<T extends IndexedRecord> extends PTransform<PCollection<T>, PDone> {
  private static final long serialVersionUID = 1L;
  private final String directory;
  private final int shards;

  private WriteJsonLines(String directory, int shards) {
    this.directory = Objects.requireNonNull(directory);
    this.shards = shards;
  }

  public static <T extends IndexedRecord> WriteJsonLines<T> to(String directory) {
    return new WriteJsonLines<>(directory, 1);
  }

  public WriteJsonLines<T> withNumShards(int n) {
    return new WriteJsonLines<>(directory, n);
  }

  /** One record as one line of plain JSON. */
  public static String toJson(IndexedRecord r) {
    return GenericData.get().toString(r);
  }

  @Override
  public PDone expand(PCollection<T> records) {
    String dir = directory.endsWith("/") ? directory : directory + "/";
    return records
        .apply("ToJson", MapElements.into(TypeDescriptors.strings()).via(WriteJsonLines::toJson))
        .apply("Write", TextIO.write().to(dir + "part").withSuffix(".jsonl").withNumShards(shards));
  }
}
