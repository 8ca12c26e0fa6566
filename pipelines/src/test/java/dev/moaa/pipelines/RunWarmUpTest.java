package dev.moaa.pipelines;

import dev.moaa.pipelines.report.Reports;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.schemas.SftRecord;
import dev.moaa.transforms.io.WriteShards;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.jupiter.api.Test;

class RunWarmUpTest {
  static final class UpperFn extends DoFn<String, String> {
    @ProcessElement
    public void process(@Element String s, OutputReceiver<String> out) {
      out.output(s.toUpperCase(java.util.Locale.ROOT));
    }
  }

  @Test
  void findsTheDoFnOfEveryParDoStep() {
    Pipeline p = Pipeline.create(PipelineOptionsFactory.create());
    p.apply(Create.of("a", "b"))
        .apply("Upper", ParDo.of(new UpperFn()))
        .apply("Length", MapElements.into(TypeDescriptors.integers()).via(String::length));
    List<DoFn<?, ?>> fns = RunWarmUp.doFns(p);
    assertTrue(fns.stream().anyMatch(f -> f instanceof UpperFn), "" + fns);
    assertTrue(fns.size() >= 2, "Upper and the MapElements step at least: " + fns);
  }

  @Test
  void theWarmUpPiecesWriteNothing() throws Exception {
    List<Path> before = listing(Path.of("").toAbsolutePath());
    WriteShards.warmUp(SftRecord.getClassSchema());
    Reports.STANDARD.warmUp();
    assertEquals(before, listing(Path.of("").toAbsolutePath()), "files in the working folder");
  }

  private static List<Path> listing(Path dir) throws java.io.IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.sorted().toList();
    }
  }

  @Test
  void aRunWithoutCallsNeverWarmsAndStopsWhenClosed() throws Exception {
    Pipeline p = Pipeline.create(PipelineOptionsFactory.create());
    p.apply(Create.of("a")).apply("Upper", ParDo.of(new UpperFn()));
    RunWarmUp w = RunWarmUp.start(p, SftRecord.getClassSchema(), List.of(), true, Reports.STANDARD);
    w.join(300);
    assertFalse(w.done(), "no call was ever in flight");
    w.close();
    w.join(2000);
    assertFalse(w.done());
    assertEquals(0, w.invokers());
  }
}
