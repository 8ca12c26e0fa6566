package dev.moaa.pipelines;

import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Whether a run that reconciled did what it was for: each model failed no more of the calls sent
 * to it than its {@code max_failure_share} (a model that stopped answering half-way otherwise
 * leaves a run that "worked" with the other proposers, or with dead letters alone), and a run
 * that read rows wrote some, and a run that wrote rows has the counters of the calls they took.
 */
final class RunHealth {
  private RunHealth() {}

  /** Why the run should end non-zero; empty when it should not. */
  static List<String> problems(MoaaConfig config, RunManifest.Counts counts, Map<String, RunManifest.ModelUsage> usage) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, RunManifest.ModelUsage> e : usage.entrySet()) {
      ModelEndpoint m = config.models().get(e.getKey());
      RunManifest.ModelUsage u = e.getValue();
      long sent = u.calls() - u.cacheHits() - u.budgetRefused();
      if (m == null || sent <= 0 || u.failures() == 0) {
        continue;
      }
      double share = (double) u.failures() / sent;
      if (share > m.maxFailureShare()) {
        out.add(String.format(Locale.ROOT,
            "model %s failed %d of its %d calls (%.0f%%, more than its max_failure_share of %.0f%%): see the"
                + " dead letters' calls for what it answered", e.getKey(), u.failures(), sent, 100 * share,
            100 * m.maxFailureShare()));
      }
    }
    long calls = usage.values().stream().mapToLong(RunManifest.ModelUsage::calls).sum();
    if (counts.written() > 0 && calls == 0) {
      // every row written took calls (answers from the cache are counted too): the counters were lost
      out.add("the run wrote " + counts.written() + " rows but its per-model counters came back empty: the calls,"
          + " tokens and cost of this run are not known (on a cluster, the job's counters are read from its REST"
          + " API after the job; see the JobManager's log)");
    }
    if (counts.read() > 0 && counts.written() == 0 && counts.reasons().getOrDefault(
        dev.moaa.transforms.moa.DeadLetters.BUDGET, 0L) == 0) {
      out.add("the run wrote no row from " + counts.read() + " read: " + counts.deadLettered() + " dead-lettered "
          + counts.reasons() + ", " + counts.dropped() + " dropped");
    }
    return out;
  }
}
