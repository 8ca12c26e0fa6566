package dev.moaa.runners;

import dev.moaa.runners.bench.BenchCommand;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.eval.CompareCommand;
import dev.moaa.runners.eval.EvalGenCommand;
import dev.moaa.runners.flink.FlinkClusterCommand;
import dev.moaa.runners.flink.FinishCommand;
import dev.moaa.runners.flink.InsideFlink;
import dev.moaa.runners.loop.LoopCommand;
import dev.moaa.runners.sim.SimulatedEndpointMain;
import dev.moaa.runners.training.TrainCommand;
import java.io.PrintStream;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code moaa} command: one entry point for every sub-command of the bundled jar. Each
 * sub-command declares its flags once (picocli); {@code moaa COMMAND --help} is generated from
 * those declarations, and every usage error is worded and answered (exit code 2) by {@link Cli}.
 */
@Command(name = "moaa", mixinStandardHelpOptions = true, versionProvider = Moaa.Version.class,
    description = "MoAA-Beam: Mixture-of-Agents alignment data on Apache Beam.",
    synopsisSubcommandLabel = "COMMAND",
    footer = {"%nmoaa COMMAND --help describes a command's flags.",
        "Exit codes: 0 done; 1 failed; 2 bad flags or configuration; 3 stopped by the budget; 4 finished with failures."})
public final class Moaa implements Runnable {
  private final PrintStream out;

  private Moaa(PrintStream out) {
    this.out = out;
  }

  public static void main(String[] args) {
    int code = run(args, System.out, System.err);
    if (InsideFlink.program()) {
      // the JobManager runs this main (a session job, Flink's REST jar run): the JVM is the
      // cluster's, so no exit; a command that did not submit its job fails the submission instead
      if (code != 0) {
        throw new IllegalStateException("moaa " + String.join(" ", args) + " ended with exit code " + code
            + " (" + dev.moaa.pipelines.ExitCodes.meaning(code) + "): see its output above in the JobManager's log");
      }
      return;
    }
    System.exit(code);
  }

  /** Runs {@code moaa ARGS}: the command's exit code, 2 for a usage error. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    CommandLine cl = commandLine(out, err);
    if (args.length == 0) {
      cl.usage(out);
      return Cli.USAGE;
    }
    return cl.execute(args);
  }

  /** The command line with every sub-command, configured by {@link Cli}. */
  static CommandLine commandLine(PrintStream out, PrintStream err) {
    CommandLine cl = new CommandLine(new Moaa(out));
    cl.addSubcommand("sft", new PipelineCommands.Sft(out, err));
    cl.addSubcommand("dpo", new PipelineCommands.Dpo(out, err));
    cl.addSubcommand("judge-eval", new PipelineCommands.JudgeEval(out, err));
    cl.addSubcommand("eval-gen", new EvalGenCommand.Run(out, err));
    cl.addSubcommand("compare", new CompareCommand(out, err));
    cl.addSubcommand("train", new TrainCommand(out, err));
    cl.addSubcommand("finish", new FinishCommand(out, err));
    cl.addSubcommand("cancel", new dev.moaa.runners.flink.CancelCommand(out, err));
    cl.addSubcommand("run", new LoopCommand.Run(out, err));
    cl.addSubcommand("quickstart", new Quickstart(out, err));
    cl.addSubcommand("simulate", new SimulatedEndpointMain(out, err));
    cl.addSubcommand("bench", new BenchCommand(out, err));
    cl.addSubcommand("bench-sft", new SftBenchmark(out, err));
    cl.addSubcommand("flink-cluster", FlinkClusterCommand.commandLine(out, err));
    cl.addSubcommand("help", new CommandLine.HelpCommand());
    Cli.configure(cl, out, err);
    return cl;
  }

  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    // "moaa" with only top-level flags: what there is to run
    spec.commandLine().usage(out);
  }

  /** The version of the bundled jar, from its manifest. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Moaa.class.getPackage().getImplementationVersion();
      return new String[] {"moaa " + (v == null ? "(development build)" : v)};
    }
  }
}
