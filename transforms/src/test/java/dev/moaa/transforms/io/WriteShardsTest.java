package dev.moaa.transforms.io;

import static org.junit.Assert.assertEquals;

import dev.moaa.schemas.Conversation;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class WriteShardsTest {
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  private static Conversation conversation(int i) {
    return Conversation.newBuilder().setId("c" + i).setSource("in.jsonl").setLine(i).setFormat("messages")
        .setSystem(i % 3 == 0 ? null : "be brief")
        .setTurns(List.of("question " + i + " with ünïcode", "follow-up " + i))
        .setReplies(Arrays.asList(i % 2 == 0 ? null : "reply " + i, null))
        .build();
  }

  @Test
  public void parquetAndAvroShardsHoldEveryRecordUnchanged() throws IOException {
    List<Conversation> rows = new ArrayList<>();
    for (int i = 0; i < 250; i++) {
      rows.add(conversation(i));
    }
    String dir = tmp.getRoot().getPath() + "/out";
    pipeline.apply(Create.of(rows).withCoder(AvroCoder.of(Conversation.class)))
        .apply(WriteShards.of(Conversation.class, Conversation.getClassSchema()).to(dir).withNumShards(3));
    pipeline.run().waitUntilFinish();

    Map<String, String> expected = new TreeMap<>();
    rows.forEach(c -> expected.put(c.getId().toString(), c.toString()));

    List<Path> avro = files(Path.of(dir, "avro"));
    assertEquals(List.of("part-00000-of-00003.avro", "part-00001-of-00003.avro", "part-00002-of-00003.avro"),
        avro.stream().map(p -> p.getFileName().toString()).toList());
    Map<String, String> fromAvro = new TreeMap<>();
    for (Path f : avro) {
      try (DataFileReader<GenericRecord> r = new DataFileReader<>(f.toFile(), new GenericDatumReader<>())) {
        assertEquals("snappy", r.getMetaString("avro.codec"));
        assertEquals(Conversation.getClassSchema(), r.getSchema());
        r.forEach(g -> fromAvro.put(g.get("id").toString(), g.toString()));
      }
    }
    assertEquals(expected, fromAvro);

    List<Path> parquet = files(Path.of(dir, "parquet"));
    assertEquals(3, parquet.size());
    Map<String, String> fromParquet = new TreeMap<>();
    for (Path f : parquet) {
      try (ParquetReader<GenericRecord> r = AvroParquetReader.<GenericRecord>builder(
          new ChannelInputFile(FileChannel.open(f, StandardOpenOption.READ))).build()) {
        for (GenericRecord g = r.read(); g != null; g = r.read()) {
          fromParquet.put(g.get("id").toString(), g.toString());
        }
      }
    }
    assertEquals(expected, fromParquet);
  }

  private static List<Path> files(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
    }
  }

  /**
   * The file write numbers the elements it sees in turn (one counter, from any start, for both
   * formats): each format must still get every shard number, evenly.
   */
  @org.junit.Test
  public void bothFormatsFn_handsEachFormatEveryShardNumber() {
    for (int shards = 1; shards <= 8; shards++) {
      for (int start = 0; start < shards; start++) {
        WriteShards.BothFormatsFn fn = new WriteShards.BothFormatsFn(shards);
        java.util.Map<String, int[]> perFormat = new java.util.HashMap<>();
        int[] counter = {start};
        int records = 40 * shards;
        final int n = shards;
        for (int r = 0; r < records; r++) {
          fn.process(new byte[] {(byte) r}, new org.apache.beam.sdk.transforms.DoFn.OutputReceiver<>() {
            @Override
            public void output(KV<String, byte[]> kv) {
              perFormat.computeIfAbsent(kv.getKey(), k -> new int[n])[counter[0]++ % n]++;
            }

            @Override
            public void outputWithTimestamp(KV<String, byte[]> kv, org.joda.time.Instant t) {
              output(kv);
            }
          });
        }
        for (String format : List.of(WriteShards.PARQUET, WriteShards.AVRO)) {
          int[] counts = perFormat.get(format);
          for (int k = 0; k < shards; k++) {
            assertEquals(format + " shard " + k + " of " + shards + " (start " + start + ")", records / shards, counts[k]);
          }
        }
      }
    }
  }
}
