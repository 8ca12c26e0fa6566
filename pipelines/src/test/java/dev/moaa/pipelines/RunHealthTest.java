package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RunHealthTest {
  private static final MoaaConfig CONFIG = MoaaConfig.parse("defaults: {base_url: 'http://127.0.0.1:9/v1'}\n"
      + "models:\n  p1: {model: m1}\n  p2: {model: m2}\n  agg: {model: m3}\n"
      + "sft: {proposers: [p1, p2], aggregator: agg}\n", name -> null);

  private static RunManifest.ModelUsage calls(long n, long failures) {
    return new RunManifest.ModelUsage(n, failures, 0, 10 * n, 20 * n, 0, 0, n, 0, 0, 0);
  }

  @Test
  void rowsWrittenWithoutAnyCounter_meanTheCostIsNotKnown() {
    RunManifest.Counts counts = new RunManifest.Counts(10, 10, 0, 0, Map.of());
    List<String> lost = RunHealth.problems(CONFIG, counts, Map.of());
    assertEquals(1, lost.size(), lost.toString());
    assertTrue(lost.get(0).contains("wrote 10 rows but its per-model counters came back empty"), lost.get(0));
    assertEquals(List.of(), RunHealth.problems(CONFIG, counts,
        Map.of("p1", calls(10, 0), "p2", calls(10, 0), "agg", calls(10, 0))));
  }

  @Test
  void noRowWritten_andAModelFailingBeyondItsShare_areProblems() {
    RunManifest.Counts none = new RunManifest.Counts(10, 0, 10, 0, Map.of("model_error", 10L));
    List<String> p = RunHealth.problems(CONFIG, none, Map.of("p1", calls(10, 10)));
    assertTrue(p.stream().anyMatch(l -> l.startsWith("model p1 failed 10 of its 10 calls")), p.toString());
    assertTrue(p.stream().anyMatch(l -> l.startsWith("the run wrote no row from 10 read")), p.toString());
    assertEquals(List.of(), RunHealth.problems(CONFIG, new RunManifest.Counts(0, 0, 0, 0, Map.of()), Map.of()),
        "an empty input is no problem");
  }
}
