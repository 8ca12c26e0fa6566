package dev.moaa.pipelines;

import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.Validation;

/**
 * Flags of {@code moaa sft} and {@code moaa dpo}. Beam's own flags ({@code --runner}, …) are accepted alongside. No
 * secret is ever an option: API keys are read from the environment variables the config names.
 */
public interface RunOptions extends PipelineOptions {
  @Description("The YAML configuration file (models and MoA topology).")
  @Validation.Required
  String getConfig();

  void setConfig(String value);

  @Description("Input files: one or more comma-separated globs of JSONL (optionally compressed) or Parquet files.")
  @Validation.Required
  String getInput();

  void setInput(String value);

  @Description("Output folder for shards, dead letters and the run manifest.")
  @Validation.Required
  String getOutput();

  void setOutput(String value);

  @Description("Row layout: auto, messages, sharegpt, alpaca or prompt. Overrides input.format of the config.")
  String getInputFormat();

  void setInputFormat(String value);

  @Description("Shards per output. Overrides output.shards of the config.")
  Integer getShards();

  void setShards(Integer value);

  @Description("Replace the results of an earlier run in the output folder.")
  @Default.Boolean(false)
  boolean getOverwrite();

  void setOverwrite(boolean value);

  @Description("Seconds between progress lines while a DirectRunner run is under way; 0 turns them off.")
  @Default.Integer(10)
  int getProgressSeconds();

  void setProgressSeconds(int value);

  @Description("Before the first row, send one small request to every model of the run and stop with exit code 2"
      + " when one cannot be used (endpoint unreachable, key refused, model unknown).")
  @Default.Boolean(true)
  boolean getPreflight();

  void setPreflight(boolean value);
}
