package dev.moaa.pipelines;

import java.io.PrintStream;

/** {@code moaa sft --config=… --input=… --output=… [Beam flags]}: the SFT pipeline, see {@link RunCommand}. */
public final class SftCommand {
  private SftCommand() {}

  public static int run(String[] args, PrintStream out, PrintStream err) {
    return execute(args, out, err).exitCode();
  }

  public static RunCommand.Outcome execute(String[] args, PrintStream out, PrintStream err) {
    return RunCommand.execute(SftPipeline.KIND, args, out, err);
  }
}
