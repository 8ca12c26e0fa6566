package dev.moaa.transforms.io;

import java.io.ByteArrayOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import org.apache.avro.Schema;
import org.apache.avro.file.CodecFactory;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.transforms.DoFn;

/**
 * Records carried to the shard writers as their Avro binary encoding. A runner that buffers a
 * group in memory (the DirectRunner clones every value it buffers by encoding and decoding it)
 * then copies a byte array instead of walking a record, and holds a compact array instead of an
 * object graph; the Avro shards take the bytes as they are, the Parquet shards decode them once.
 */
final class EncodedRecords {
  private EncodedRecords() {}

  /** A record to its Avro binary encoding under {@code schema} (the record's own schema). */
  static final class EncodeFn<T extends SpecificRecordBase> extends DoFn<T, byte[]> {
    private static final long serialVersionUID = 1L;
    private final String schemaJson;
    private transient SpecificDatumWriter<T> writer;
    private transient ByteArrayOutputStream buffer;
    private transient BinaryEncoder encoder;

    EncodeFn(Schema schema) {
      this.schemaJson = schema.toString();
    }

    @Setup
    public void setup() {
      writer = new SpecificDatumWriter<>(new Schema.Parser().parse(schemaJson));
      buffer = new ByteArrayOutputStream(4096);
    }

    @ProcessElement
    public void process(@Element T record, OutputReceiver<byte[]> out) throws IOException {
      buffer.reset();
      encoder = EncoderFactory.get().binaryEncoder(buffer, encoder);
      writer.write(record, encoder);
      encoder.flush();
      out.output(buffer.toByteArray());
    }
  }

  /** Avro container files (Snappy blocks) of records given already encoded. */
  static final class AvroSink implements FileIO.Sink<byte[]> {
    private static final long serialVersionUID = 1L;
    private final String schemaJson;
    private transient DataFileWriter<GenericRecord> writer;

    AvroSink(Schema schema) {
      this.schemaJson = schema.toString();
    }

    @Override
    public void open(WritableByteChannel channel) throws IOException {
      Schema schema = new Schema.Parser().parse(schemaJson);
      writer = new DataFileWriter<>(new GenericDatumWriter<GenericRecord>(schema));
      writer.setCodec(CodecFactory.snappyCodec());
      writer.create(schema, new KeepOpen(Channels.newOutputStream(channel)));
    }

    @Override
    public void write(byte[] encoded) throws IOException {
      writer.appendEncoded(ByteBuffer.wrap(encoded));
    }

    @Override
    public void flush() throws IOException {
      // writes the last block; the stream below stays open: Beam closes the channel afterwards
      writer.close();
    }
  }

  /** Parquet shards ({@link ParquetShardSink}) of records given encoded: each is decoded once. */
  static final class ParquetSink implements FileIO.Sink<byte[]> {
    private static final long serialVersionUID = 1L;
    private final String schemaJson;
    private final ParquetShardSink parquet;
    private transient GenericDatumReader<GenericRecord> reader;
    private transient BinaryDecoder decoder;

    ParquetSink(Schema schema) {
      this.schemaJson = schema.toString();
      this.parquet = ParquetShardSink.of(schema);
    }

    @Override
    public void open(WritableByteChannel channel) throws IOException {
      reader = new GenericDatumReader<>(new Schema.Parser().parse(schemaJson));
      parquet.open(channel);
    }

    @Override
    public void write(byte[] encoded) throws IOException {
      decoder = DecoderFactory.get().binaryDecoder(encoded, decoder);
      parquet.write(reader.read(null, decoder));
    }

    @Override
    public void flush() throws IOException {
      parquet.flush();
    }
  }

  /** Passes writes through and turns close into flush. */
  private static final class KeepOpen extends FilterOutputStream {
    KeepOpen(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    @Override
    public void close() throws IOException {
      flush();
    }
  }
}
