package dev.moaa.pipelines;

import java.io.PrintStream;

/** {@code moaa dpo --config=… --input=… --output=… [Beam flags]}: the DPO pipeline, see {@link RunCommand}. */
public final class DpoCommand {
  private DpoCommand() {}

  public static int run(String[] args, PrintStream out, PrintStream err) {
    return execute(args, out, err).exitCode();
  }

  public static RunCommand.Outcome execute(String[] args, PrintStream out, PrintStream err) {
    return RunCommand.execute(DpoPipeline.KIND, args, out, err);
  }
}
