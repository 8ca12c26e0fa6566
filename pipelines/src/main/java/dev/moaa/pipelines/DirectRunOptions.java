package dev.moaa.pipelines;

import org.apache.beam.sdk.options.Default;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * The DirectRunner's {@code blockOnRun} flag, declared again here (same name, type and default as
 * Beam's {@code DirectOptions}) so that a run can ask for a non-blocking {@code p.run()}, and read
 * metrics while it goes, without this module depending on the DirectRunner at compile time.
 */
public interface DirectRunOptions extends PipelineOptions {
  @Default.Boolean(true)
  @Description("If the pipeline should block awaiting completion of the pipeline. If set to true, a call to "
      + "Pipeline#run() will block until all PTransforms are complete. Otherwise, the Pipeline will execute "
      + "asynchronously. If set to false, use PipelineResult#waitUntilFinish() to block until the Pipeline is "
      + "complete.")
  boolean isBlockOnRun();

  void setBlockOnRun(boolean value);
}
