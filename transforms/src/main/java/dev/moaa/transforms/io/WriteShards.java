package dev.moaa.transforms.io;

import java.util.Objects;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PDone;

/**
 * Writes records as Parquet shards ({@code <dir>/parquet/part-SSSSS-of-NNNNN.parquet}, Snappy,
 * lists in the standard three-level layout that pyarrow, HF datasets and TRL read) and as Avro
 * shards of the same records ({@code <dir>/avro/part-…-of-….avro}). Shard names depend only on
 * the shard count, so a rerun into a cleaned folder writes the same files. Records travel to the
 * writers as their Avro encoding ({@link EncodedRecords}).
 */
public final class WriteShards<T extends SpecificRecordBase> extends PTransform<PCollection<T>, PDone> {
  private static final long serialVersionUID = 1L;

  private final Class<T> type;
  private final Schema schema;
  private final String directory;
  private final int shards;

  private WriteShards(Class<T> type, Schema schema, String directory, int shards) {
    this.type = type;
    this.schema = schema;
    this.directory = directory;
    this.shards = shards;
    if (shards < 1) {
      throw new IllegalArgumentException("shards must be at least 1, got " + shards);
    }
  }

  public static <T extends SpecificRecordBase> WriteShards<T> of(Class<T> type, Schema schema) {
    return new WriteShards<>(type, schema, null, 1);
  }

  public WriteShards<T> to(String dir) {
    return new WriteShards<>(type, schema, Objects.requireNonNull(dir), shards);
  }

  public WriteShards<T> withNumShards(int n) {
    return new WriteShards<>(type, schema, directory, n);
  }

  @Override
  public PDone expand(PCollection<T> records) {
    Objects.requireNonNull(directory, "WriteShards needs to(directory)");
    String dir = directory.endsWith("/") ? directory : directory + "/";
    PCollection<byte[]> encoded = records
        .apply("Encode", ParDo.of(new EncodedRecords.EncodeFn<T>(schema)))
        .setCoder(ByteArrayCoder.of());
    encoded.apply("Parquet", FileIO.<byte[]>write()
        .via(new EncodedRecords.ParquetSink(schema))
        .to(dir + "parquet")
        .withPrefix("part")
        .withSuffix(".parquet")
        .withNumShards(shards));
    encoded.apply("Avro", FileIO.<byte[]>write()
        .via(new EncodedRecords.AvroSink(schema))
        .to(dir + "avro")
        .withPrefix("part")
        .withSuffix(".avro")
        .withNumShards(shards));
    return PDone.in(records.getPipeline());
  }
}
