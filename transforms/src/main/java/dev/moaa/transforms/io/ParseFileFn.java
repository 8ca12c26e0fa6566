package dev.moaa.transforms.io;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.transforms.input.AvroRows;
import dev.moaa.transforms.input.ConversationParser;
import dev.moaa.transforms.input.ParseResult;
import dev.moaa.transforms.moa.LiveCounters;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;

/**
 * Reads one input file, JSONL (optionally compressed) or Parquet, and emits one output per record:
 * a {@link Conversation}, or a {@link DeadLetter} (stage {@code read}) with the reason, the line
 * or row number and the original text. Blank JSONL lines are not records and are skipped.
 */
class ParseFileFn extends DoFn<FileIO.ReadableFile, Conversation> {
  private static final long serialVersionUID = 1L;
  static final TupleTag<Conversation> PARSED = new TupleTag<>() {};
  static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};
  /** Longer lines are refused without being held in memory whole. */
  static final int MAX_LINE_BYTES = 64 << 20;
  /** How much of a refused line a dead letter keeps. */
  static final int KEPT_BYTES_OF_HUGE_LINE = 1 << 20;

  private final ConversationParser parser;
  private final Counter read = LiveCounters.counter(ReadConversations.ROWS_READ);

  ParseFileFn(ConversationParser parser) {
    this.parser = parser;
  }

  @ProcessElement
  public void process(@Element FileIO.ReadableFile file, MultiOutputReceiver out) throws IOException {
    String source = file.getMetadata().resourceId().toString();
    if (source.endsWith(".parquet")) {
      readParquet(file, source, out);
    } else {
      readJsonl(file, source, out);
    }
  }

  private void readJsonl(FileIO.ReadableFile file, String source, MultiOutputReceiver out) throws IOException {
    try (InputStream in = new BufferedInputStream(Channels.newInputStream(file.open()), 1 << 16)) {
      ByteArrayOutputStream line = new ByteArrayOutputStream(4096);
      long number = 0;
      boolean tooLong = false;
      int b;
      while (true) {
        b = in.read();
        if (b == '\n' || b == -1) {
          if (b == -1 && line.size() == 0 && !tooLong) {
            break;
          }
          number++;
          emitLine(line.toByteArray(), tooLong, source, number, out);
          line.reset();
          tooLong = false;
          if (b == -1) {
            break;
          }
          continue;
        }
        if (line.size() < MAX_LINE_BYTES) {
          line.write(b);
        } else {
          tooLong = true;
        }
      }
    }
  }

  private void emitLine(byte[] bytes, boolean tooLong, String source, long number, MultiOutputReceiver out) {
    int end = bytes.length;
    if (end > 0 && bytes[end - 1] == '\r') {
      end--;
    }
    if (!tooLong && isBlank(bytes, end)) {
      return;
    }
    read.inc();
    byte[] exact = end == bytes.length ? bytes : java.util.Arrays.copyOf(bytes, end);
    if (tooLong) {
      out.get(FAILED).output(failure("line_too_long",
          "line longer than " + MAX_LINE_BYTES + " bytes; the first " + KEPT_BYTES_OF_HUGE_LINE + " are kept",
          source, number, new String(exact, 0, Math.min(exact.length, KEPT_BYTES_OF_HUGE_LINE), StandardCharsets.UTF_8)));
      return;
    }
    ParseResult r = parser.parseLine(exact, source, number);
    if (r.isSuccess()) {
      out.get(PARSED).output(r.conversation());
    } else {
      // invalid UTF-8 is kept with replacement characters: the line number locates the original
      out.get(FAILED).output(failure(r.reason(), r.detail(), source, number, new String(exact, StandardCharsets.UTF_8)));
    }
  }

  private static boolean isBlank(byte[] bytes, int end) {
    for (int i = 0; i < end; i++) {
      if (bytes[i] != ' ' && bytes[i] != '\t' && bytes[i] != '\r') {
        return false;
      }
    }
    return true;
  }

  private void readParquet(FileIO.ReadableFile file, String source, MultiOutputReceiver out) throws IOException {
    try (SeekableByteChannel channel = file.openSeekable();
        ParquetReader<GenericRecord> reader = AvroParquetReader.<GenericRecord>builder(new ChannelInputFile(channel))
            .withDataModel(GenericData.get())
            .build()) {
      long row = 0;
      GenericRecord record;
      while ((record = reader.read()) != null) {
        row++;
        read.inc();
        ParseResult r;
        try {
          r = parser.parseRow(AvroRows.toPlainMap(record), source, row);
        } catch (RuntimeException e) {
          out.get(FAILED).output(failure("bad_field_type", e.getMessage(), source, row, GenericData.get().toString(record)));
          continue;
        }
        if (r.isSuccess()) {
          out.get(PARSED).output(r.conversation());
        } else {
          out.get(FAILED).output(failure(r.reason(), r.detail(), source, row, GenericData.get().toString(record)));
        }
      }
    }
  }

  static DeadLetter failure(String reason, String detail, String source, long line, String input) {
    return DeadLetter.newBuilder()
        .setStage("read")
        .setReason(reason)
        .setError(detail)
        .setSource(source)
        .setLine(line)
        .setInput(input)
        .build();
  }
}
