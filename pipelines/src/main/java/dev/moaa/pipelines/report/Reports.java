package dev.moaa.pipelines.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunDocuments;
import dev.moaa.pipelines.RunKind;
import java.io.IOException;
import dev.moaa.transforms.io.StoragePath;

/** The product's documents of a finished run: the dataset card ({@link DatasetCard}) and the report ({@link RunReport}). */
public final class Reports implements RunDocuments {
  /** The card and the report every run writes. */
  public static final RunDocuments STANDARD = new Reports();

  private Reports() {}

  @Override
  public StoragePath card(RunKind kind, MoaaConfig config, ObjectNode manifest, StoragePath output) throws IOException {
    return DatasetCard.write(kind, config, manifest, output);
  }

  @Override
  public StoragePath report(StoragePath output, RunKind kind, JsonNode manifest, MoaaConfig config) throws IOException {
    return RunReport.write(output, kind, manifest, config);
  }

  @Override
  public void warmUp() throws IOException {
    RunReport.warmUp();
  }
}
