package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.beam.sdk.Pipeline;

/** What differs between the pipelines {@link RunCommand} runs: {@code sft}, {@code dpo}. */
public interface RunKind {
  /** The command name, also the manifest's {@code command}. */
  String command();

  /** The folder under the output that holds the shards ({@code <dir>/parquet}, {@code <dir>/avro}). */
  String shardDir();

  /** Throws a {@link ConfigException} when the config lacks what this kind needs. */
  void check(MoaaConfig config);

  /** Printed before the run: what it will do and, where it can be estimated, cost. */
  void describe(MoaaConfig config, RunSpec spec, PrintStream out);

  /**
   * The calls a one-turn row makes when every call succeeds, for the progress line's ETA while no
   * row is written yet (Flink's batch mode writes every row at the end); 0 when it is not known.
   */
  default int callsPerRow(MoaaConfig config) {
    return 0;
  }

  /** Adds the graph; it must write the counts {@link Tally} reads. */
  void build(Pipeline p, MoaaConfig config, RunSpec spec);

  /** The topology section of the manifest. */
  ObjectNode topology(MoaaConfig config);

  /** The Avro schema of the records in the shards (the dataset card's features follow it). */
  Schema shardSchema();

  /** Every model this kind calls, by config name, with its roles in the run, in topology order. */
  Map<String, List<String>> modelRoles(MoaaConfig config);
}
