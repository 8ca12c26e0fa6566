package dev.moaa.pipelines;

import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.values.PCollection;

/**
 * Spreads the conversations evenly over a cluster's workers before the model-calling chain. After
 * the clean step they come out of a handful of key groups, which a cluster places on workers by
 * key: with a per-worker concurrency limit, the worker that got more groups finishes last while
 * the others idle. On Flink a reshuffle is a round-robin rebalance (no grouping, no wait). On the
 * DirectRunner, one JVM with one limit, it would only add a group per row, so it is left out.
 */
final class Spread {
  private Spread() {}

  static <T> PCollection<T> evenly(Pipeline p, PCollection<T> rows) {
    Class<?> runner = p.getOptions().getRunner();
    if (runner != null && runner.getSimpleName().startsWith("Flink")) {
      return rows.apply("SpreadOverWorkers", Reshuffle.<T>viaRandomKey());
    }
    return rows;
  }
}
