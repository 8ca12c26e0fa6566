package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import dev.moaa.transforms.io.ParquetShardSink;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class CorpusEstimateTest {
  @BeforeAll
  static void fileSystems() {
    FileSystems.setDefaultPipelineOptions(PipelineOptionsFactory.create());
  }

  private static String lines(int from, int to) {
    StringBuilder b = new StringBuilder();
    for (int i = from; i < to; i++) {
      b.append("{\"id\": \"r").append(i).append("\", \"prompt\": \"Prompt number ").append(i)
          .append(" asks for something a little longer than a word.\"}\n");
    }
    return b.toString();
  }

  @Test
  void smallJsonlFiles_areCountedExactly_blankTailIncluded() throws IOException {
    Path dir = Files.createTempDirectory("est");
    Files.writeString(dir.resolve("a.jsonl"), lines(0, 100));
    Files.writeString(dir.resolve("b.jsonl"), lines(100, 150) + "{\"prompt\": \"last, no newline\"}");
    CorpusEstimate e = CorpusEstimate.of(List.of(dir + "/a.jsonl", dir + "/b.jsonl"));
    assertEquals(2, e.files());
    // b's ratio comes from a (exact for a): 51 lines in b are estimated from a's bytes per line
    assertEquals(100 + 51, e.rows(), 2);
    assertEquals(Files.size(dir.resolve("a.jsonl")) + Files.size(dir.resolve("b.jsonl")), e.bytes());
  }

  @Test
  void aLargeFile_isEstimatedFromItsFirstMegabyte_withinAFewPercent() throws IOException {
    Path dir = Files.createTempDirectory("est");
    Files.writeString(dir.resolve("big.jsonl"), lines(0, 60_000));
    CorpusEstimate e = CorpusEstimate.of(List.of(dir + "/*.jsonl"));
    assertTrue(Files.size(dir.resolve("big.jsonl")) > CorpusEstimate.SAMPLE_BYTES);
    assertEquals(60_000, e.rows(), 60_000 * 0.03, "estimated " + e.rows());
  }

  @Test
  void aGzippedFile_isEstimatedFromDecompressedLinesPerStoredByte() throws IOException {
    Path dir = Files.createTempDirectory("est");
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(dir.resolve("big.jsonl.gz")))) {
      out.write(lines(0, 100_000).getBytes(StandardCharsets.UTF_8));
    }
    CorpusEstimate e = CorpusEstimate.of(List.of(dir + "/big.jsonl.gz"));
    assertEquals(100_000, e.rows(), 100_000 * 0.1, "estimated " + e.rows());
  }

  @Test
  void parquetRows_comeFromTheFooter() throws IOException {
    Path dir = Files.createTempDirectory("est");
    Schema schema = SchemaBuilder.record("r").fields().requiredString("prompt").endRecord();
    try (FileChannel ch = FileChannel.open(dir.resolve("p.parquet"), StandardOpenOption.CREATE_NEW,
            StandardOpenOption.WRITE);
        ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(ParquetShardSink.outputFile(ch))
            .withSchema(schema).build()) {
      for (int i = 0; i < 1234; i++) {
        GenericRecord r = new GenericData.Record(schema);
        r.put("prompt", "p" + i);
        w.write(r);
      }
    }
    CorpusEstimate e = CorpusEstimate.of(List.of(dir + "/*.parquet", dir + "/none-*.jsonl"));
    assertEquals(new CorpusEstimate(1, Files.size(dir.resolve("p.parquet")), 1234), e);
    assertEquals("about 1,234 rows in 1 file (1 MB)", e.describe());
  }
}
