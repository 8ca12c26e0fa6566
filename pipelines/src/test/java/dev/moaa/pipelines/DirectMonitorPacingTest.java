package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricQueryResults;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsFilter;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.jupiter.api.Test;

class DirectMonitorPacingTest {
  /** Waits like a model call, then counts the element (after a group, so timers and watermarks move too). */
  static final class SlowFn extends DoFn<KV<Integer, Iterable<Integer>>, Integer> {
    private final Counter seen = Metrics.counter("pacing", "seen");
    private final long sleepMs;

    SlowFn(long sleepMs) {
      this.sleepMs = sleepMs;
    }

    @ProcessElement
    public void process(@Element KV<Integer, Iterable<Integer>> group, OutputReceiver<Integer> out)
        throws InterruptedException {
      Thread.sleep(sleepMs);
      for (Integer i : group.getValue()) {
        if (i < 0) {
          throw new IllegalStateException("negative input " + i);
        }
        seen.inc();
        out.output(i);
      }
    }
  }

  private static Pipeline pipeline(List<Integer> input, long sleepMs) {
    PipelineOptions options = PipelineOptionsFactory.fromArgs("--runner=DirectRunner", "--targetParallelism=8").create();
    options.as(DirectRunOptions.class).setBlockOnRun(false);
    Pipeline p = Pipeline.create(options);
    p.apply(Create.of(input))
        .apply(WithKeys.of((Integer i) -> Math.floorMod(i, 4)).withKeyType(TypeDescriptors.integers()))
        .apply(GroupByKey.create())
        .apply(ParDo.of(new SlowFn(sleepMs)));
    return p;
  }

  @Test
  void aWaitingPipelineLeavesTheLoopIdleAndStillFinishes() {
    PipelineResult result = pipeline(List.of(1, 2, 3, 4, 5, 6, 7, 8), 1500).run();
    Optional<DirectMonitorPacing.Gate> gate = DirectMonitorPacing.install(result);
    assertTrue(gate.isPresent(), "this Beam version's DirectRunner is paced");
    assertEquals(PipelineResult.State.DONE, result.waitUntilFinish());
    MetricQueryResults metrics = result.metrics().queryMetrics(MetricsFilter.builder()
        .addNameFilter(MetricNameFilter.named("pacing", "seen")).build());
    assertEquals(8L, metrics.getCounters().iterator().next().getAttempted());
    // 1.5 s with nothing to do: at most one round per 5 ms (300), with room for the rounds the
    // start and the end need; unpaced, the loop runs tens of thousands of rounds in that time
    long rounds = gate.get().rounds();
    assertTrue(rounds < 1200, "rounds of the runner's loop in a 1.5 s wait: " + rounds);
    assertTrue(gate.get().waits() > 100, "rounds that waited: " + gate.get().waits());
    assertTrue(gate.get().waitedNanos() > 1_000_000_000L, "time the loop waited: " + gate.get().waitedNanos());
  }

  @Test
  void runHandsBackARunningDirectPipeline() {
    Pipeline p = pipeline(List.of(1, 2, 3), 1000);
    p.getOptions().as(DirectRunOptions.class).setBlockOnRun(true); // what a plain DirectRunner run would do
    PipelineResult result = DirectMonitorPacing.run(p);
    assertEquals(PipelineResult.State.RUNNING, result.getState(), "run() did not block for the 1 s step");
    assertEquals(PipelineResult.State.DONE, result.waitUntilFinish());
  }

  @Test
  void aFailureStillEndsTheRun() {
    PipelineResult result = pipeline(List.of(1, -2, 3), 10).run();
    assertTrue(DirectMonitorPacing.install(result).isPresent());
    RuntimeException e = assertThrows(RuntimeException.class, result::waitUntilFinish);
    assertTrue(String.valueOf(e.getMessage()).contains("negative input -2"), e.toString());
  }

  @Test
  void otherResultsAreLeftAlone() {
    PipelineResult notDirect = new PipelineResult() {
      @Override
      public State getState() {
        return State.DONE;
      }

      @Override
      public State cancel() {
        return State.DONE;
      }

      @Override
      public State waitUntilFinish(org.joda.time.Duration duration) {
        return State.DONE;
      }

      @Override
      public State waitUntilFinish() {
        return State.DONE;
      }

      @Override
      public org.apache.beam.sdk.metrics.MetricResults metrics() {
        return null;
      }
    };
    assertTrue(DirectMonitorPacing.install(notDirect).isEmpty());
    assertTrue(DirectMonitorPacing.install(null).isEmpty());
  }
}
