package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.transforms.input.InputFormat;
import dev.moaa.transforms.io.StoragePath;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.metrics.MetricResults;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The record a run that only submitted its job leaves for {@code moaa finish}. */
class SubmittedRunTest {
  @TempDir Path dir;

  @Test
  void whatARunWrites_isWhatFinishReads() throws Exception {
    ObjectNode preflight = new ObjectMapper().createObjectNode();
    preflight.put("enabled", true);
    preflight.put("requests", 3);
    preflight.put("estimated_cost_usd", 0.0012);
    RunSpec spec = new RunSpec(List.of("/data/a/*.jsonl", "s3://bucket/b.parquet"), dir.resolve("out").toString(),
        InputFormat.SHAREGPT, 4);
    RunCommand.Submitted written = new RunCommand.Submitted("dpo", "moaa-root-1206-ab12", "0123456789abcdef0123456789abcdef",
        Instant.parse("2026-12-06T02:00:00.123Z"), Instant.parse("2026-12-06T02:00:04Z"), "c0ffee", spec, "FlinkRunner",
        "[auto]", preflight, "launch-7");
    StoragePath out = StoragePath.of(spec.output());
    out.resolve("_run").createFolders();
    assertTrue(RunCommand.Submitted.read(out).isEmpty(), "nothing submitted yet");
    out.resolve(RunCommand.SUBMITTED_FILE).writeString(written.toJson().toPrettyString());
    RunCommand.Submitted read = RunCommand.Submitted.read(out).orElseThrow();
    assertEquals(written, read);
    assertTrue(Files.readString(dir.resolve("out/_run/submitted.json")).contains("\"submitted_at\" : \"2026-12-06T02:00:04Z\""));
  }

  /** Stands in for Beam's detached Flink result, whose job client is a private field. */
  static final class Detached extends Bare {
    @SuppressWarnings("unused")
    private final Object jobClient = new Object() {
      @SuppressWarnings("unused")
      public Object getJobID() {
        return "4f2c";
      }
    };
  }

  static class Bare implements PipelineResult {
    @Override public State getState() { return State.RUNNING; }
    @Override public State cancel() { return State.CANCELLED; }
    @Override public State waitUntilFinish(org.joda.time.Duration d) { return State.DONE; }
    @Override public State waitUntilFinish() { return State.DONE; }
    @Override public MetricResults metrics() { throw new UnsupportedOperationException(); }
  }

  @Test
  void theJobId_isReadFromADetachedResult_andNullWhereThereIsNone() {
    assertEquals("4f2c", RunCommand.flinkJobId(new Detached()));
    assertNull(RunCommand.flinkJobId(new Bare()));
  }
}
