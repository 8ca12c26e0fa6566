package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import dev.moaa.transforms.io.StoragePath;

/**
 * The documents written about a finished run from its files and manifest: the dataset card and
 * the report ({@code dev.moaa.pipelines.report} holds the product's; the run only calls them, so
 * that no report code is imported by the pipelines).
 */
public interface RunDocuments {
  /** Writes the dataset card into {@code output} (a local folder or one in object storage); returns its path. */
  StoragePath card(RunKind kind, MoaaConfig config, ObjectNode manifest, StoragePath output) throws IOException;

  /** Writes the report into {@code output}; returns its path. */
  StoragePath report(StoragePath output, RunKind kind, JsonNode manifest, MoaaConfig config) throws IOException;

  /** Loads and runs once what the documents need, while the run's calls are under way. */
  default void warmUp() throws IOException {}
}
