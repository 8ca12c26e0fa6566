package dev.moaa.transforms.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.util.List;
import java.util.Objects;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.transforms.Contextful;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PDone;

/**
 * Writes records as Parquet shards ({@code <dir>/parquet/part-SSSSS-of-NNNNN.parquet}, Snappy,
 * lists in the standard three-level layout that pyarrow, HF datasets and TRL read) and as Avro
 * shards of the same records ({@code <dir>/avro/part-…-of-….avro}). Shard names depend only on
 * the shard count, so a rerun into a cleaned folder writes the same files. Records travel to the
 * writers as their Avro encoding ({@link EncodedRecords}).
 *
 * <p>Both formats are one dynamic file write (a destination per format, each with the shard count),
 * not two: each file write is some twenty steps, and the DirectRunner's set-up and scheduling cost
 * grows with the number of steps (measured on W1: the 80 steps of three file writes cost about a
 * second before the first model call).
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

  static final String PARQUET = "parquet";
  static final String AVRO = "avro";

  /**
   * Each encoded record once per format (the same bytes: nothing downstream changes them).
   *
   * <p>The file write gives each element it sees the next shard number, one counter for both
   * formats. Copies always sent in the order Parquet, Avro would, for an even shard count, put
   * every Parquet copy in the even-numbered shards and every Avro copy in the odd ones (seen on
   * Flink, where the two steps run one after the other in one thread: half the shards of each format
   * were never written). So the order turns every {@code shards / 2} records, which hands each format
   * every shard number in turn.
   */
  static final class BothFormatsFn extends DoFn<byte[], KV<String, byte[]>> {
    private static final long serialVersionUID = 1L;
    private final int shards;
    private transient long seen;

    BothFormatsFn(int shards) {
      this.shards = shards;
    }

    @ProcessElement
    public void process(@Element byte[] record, OutputReceiver<KV<String, byte[]>> out) {
      boolean avroFirst = shards % 2 == 0 && (2 * seen / shards) % 2 == 1;
      seen++;
      out.output(KV.of(avroFirst ? AVRO : PARQUET, record));
      out.output(KV.of(avroFirst ? PARQUET : AVRO, record));
    }
  }

  /**
   * Opens and closes a Parquet and an Avro shard writer on a buffer in memory and compresses a few
   * bytes with Snappy: loads and links the writers' classes (Parquet, Hadoop's configuration, the
   * Snappy native library) that a fixed-shard write otherwise first needs at the very end of a
   * run, when the last record has arrived. Writes no file.
   */
  public static void warmUp(Schema schema) throws IOException {
    List<FileIO.Sink<byte[]>> sinks = List.of(new EncodedRecords.ParquetSink(schema), new EncodedRecords.AvroSink(schema));
    for (FileIO.Sink<byte[]> sink : sinks) {
      try (WritableByteChannel channel = Channels.newChannel(new ByteArrayOutputStream())) {
        sink.open(channel);
        sink.flush();
      }
    }
    org.xerial.snappy.Snappy.compress(new byte[256]);
  }

  @Override
  public PDone expand(PCollection<T> records) {
    Objects.requireNonNull(directory, "WriteShards needs to(directory)");
    String dir = directory.endsWith("/") ? directory : directory + "/";
    Schema schema = this.schema;
    records
        .apply("Encode", ParDo.of(new EncodedRecords.EncodeFn<T>(schema)))
        .setCoder(ByteArrayCoder.of())
        .apply("BothFormats", ParDo.of(new BothFormatsFn(shards)))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), ByteArrayCoder.of()))
        .apply("Write", FileIO.<String, KV<String, byte[]>>writeDynamic()
            .by(KV::getKey)
            .withDestinationCoder(StringUtf8Coder.of())
            .via(Contextful.fn(KV::getValue), Contextful.fn(format -> PARQUET.equals(format)
                ? new EncodedRecords.ParquetSink(schema)
                : new EncodedRecords.AvroSink(schema)))
            .to(dir)
            .withNaming(format -> FileIO.Write.defaultNaming(format + "/part", "." + format))
            .withNumShards(shards));
    return PDone.in(records.getPipeline());
  }
}
