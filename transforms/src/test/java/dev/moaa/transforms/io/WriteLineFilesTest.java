package dev.moaa.transforms.io;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.values.KV;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class WriteLineFilesTest {
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  @Test
  public void eachPlaceGetsItsFileAndAPlaceWithoutRowsNone() throws IOException {
    Path out = tmp.getRoot().toPath();
    List<KV<String, String>> lines = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      lines.add(KV.of("dead-letters", "{\"n\": " + i + "}"));
    }
    lines.add(KV.of("dropped", "{\"reason\": \"duplicate_id\"}"));
    lines.add(KV.of("_run/counts.tsv", "read_ok\t41"));
    lines.add(KV.of("_run/counts.tsv", "written\t0"));
    pipeline.apply(Create.of(lines).withCoder(KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of())))
        .apply(WriteLineFiles.to(out.toString()).withSingleFile("_run/counts.tsv"));
    pipeline.run().waitUntilFinish();

    assertEquals(List.of("part-00000-of-00001.jsonl"), names(out.resolve("dead-letters")));
    assertEquals(40, read(out.resolve("dead-letters/part-00000-of-00001.jsonl")).size());
    assertEquals(List.of("{\"reason\": \"duplicate_id\"}"), read(out.resolve("dropped/part-00000-of-00001.jsonl")));
    assertEquals(List.of("counts.tsv"), names(out.resolve("_run")));
    assertEquals(List.of("read_ok\t41", "written\t0"),
        read(out.resolve("_run/counts.tsv")).stream().sorted().toList());
    assertFalse("no row named it", Files.exists(out.resolve("other")));
    try (Stream<Path> all = Files.walk(out)) {
      assertEquals("no temporary file is left (Beam leaves its emptied .temp-beam folder)", List.of(),
          all.filter(Files::isRegularFile).filter(f -> f.toString().contains(".temp-beam")).toList());
    }
  }

  @Test
  public void aSingleFileRefusesMoreThanOneShard() {
    WriteLineFiles.ExactName name = new WriteLineFiles.ExactName("_run/counts.tsv");
    assertEquals("_run/counts.tsv", name.getFilename(GlobalWindow.INSTANCE, PaneInfo.NO_FIRING, 1, 0,
        Compression.UNCOMPRESSED));
    assertThrows(IllegalStateException.class, () -> name.getFilename(GlobalWindow.INSTANCE, PaneInfo.NO_FIRING, 2, 1,
        Compression.UNCOMPRESSED));
  }

  private static List<String> names(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  private static List<String> read(Path file) throws IOException {
    return Files.readAllLines(file, StandardCharsets.UTF_8);
  }
}
