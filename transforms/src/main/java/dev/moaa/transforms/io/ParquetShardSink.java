package dev.moaa.transforms.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.io.FileIO;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.PositionOutputStream;

/**
 * A Parquet {@link FileIO.Sink} for Avro records: Snappy, lists in the standard three-level layout.
 *
 * <p>Beam's own ParquetIO sink carries a serialized Hadoop Configuration; each time a runner
 * deserializes the sink (the DirectRunner does it for every bundle) that Configuration re-reads
 * Hadoop's XML defaults, which dominated the CPU of small-bundle runs. This sink serializes only
 * the schema text and builds one resource-free Configuration per JVM.
 */
public final class ParquetShardSink implements FileIO.Sink<GenericRecord> {
  /**
   * A writer buffers a row group's columns on the heap until the group reaches this size (Parquet's
   * default is 128 MB); 32 MB bounds that buffer per open writer and still gives readers row groups
   * of tens of thousands of rows. (It was chosen while looking for the heap's rise at the end of a
   * 1,000,000-row run, which it did not change: docs/benchmarks.md.)
   */
  public static final long ROW_GROUP_BYTES = 32L << 20;

  private static final long serialVersionUID = 1L;
  private static final Configuration CONF = standardLists();

  private final String schemaJson;
  private transient ParquetWriter<GenericRecord> writer;

  private ParquetShardSink(String schemaJson) {
    this.schemaJson = schemaJson;
  }

  public static ParquetShardSink of(Schema schema) {
    return new ParquetShardSink(schema.toString());
  }

  private static Configuration standardLists() {
    Configuration c = new Configuration(false);
    c.setBoolean("parquet.avro.write-old-list-structure", false);
    return c;
  }

  @Override
  public void open(WritableByteChannel channel) throws IOException {
    writer = AvroParquetWriter.<GenericRecord>builder(new ChannelOutputFile(channel))
        .withSchema(new Schema.Parser().parse(schemaJson))
        .withDataModel(GenericData.get())
        .withConf(CONF)
        .withCompressionCodec(CompressionCodecName.SNAPPY)
        .withRowGroupSize(ROW_GROUP_BYTES)
        .build();
  }

  @Override
  public void write(GenericRecord element) throws IOException {
    writer.write(element);
  }

  @Override
  public void flush() throws IOException {
    // closing the writer writes the footer; Beam closes the channel afterwards
    writer.close();
  }

  /** A Parquet OutputFile over {@code channel}; whoever opened the channel closes it. */
  public static OutputFile outputFile(WritableByteChannel channel) {
    return new ChannelOutputFile(channel);
  }

  private static final class ChannelOutputFile implements OutputFile {
    private final WritableByteChannel channel;

    ChannelOutputFile(WritableByteChannel channel) {
      this.channel = channel;
    }

    @Override
    public PositionOutputStream create(long blockSizeHint) {
      OutputStream out = Channels.newOutputStream(channel);
      return new PositionOutputStream() {
        private long pos;

        @Override
        public long getPos() {
          return pos;
        }

        @Override
        public void write(int b) throws IOException {
          out.write(b);
          pos++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          out.write(b, off, len);
          pos += len;
        }

        @Override
        public void flush() throws IOException {
          out.flush();
        }

        @Override
        public void close() throws IOException {
          out.flush();
        }
      };
    }

    @Override
    public PositionOutputStream createOrOverwrite(long blockSizeHint) {
      return create(blockSizeHint);
    }

    @Override
    public boolean supportsBlockSize() {
      return false;
    }

    @Override
    public long defaultBlockSize() {
      return 0;
    }
  }
}
