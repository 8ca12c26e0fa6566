package dev.moaa.runners;

import dev.moaa.pipelines.EvalGenCommand;
import dev.moaa.pipelines.JudgeEvalCommand;
import dev.moaa.runners.bench.BenchCommand;
import dev.moaa.runners.flink.FlinkClusterCommand;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.loop.LoopCommand;
import dev.moaa.runners.sim.SimulatedEndpointMain;
import dev.moaa.runners.training.TrainAfterRun;
import dev.moaa.runners.training.TrainCommand;
import java.io.PrintStream;
import java.util.Arrays;

/**
 * The {@code moaa} command: one entry point for every subcommand of the bundled jar.
 *
 * <pre>
 * moaa sft --config=FILE --input=GLOB[,GLOB] --output=DIR [--overwrite=true] [Beam flags]
 * moaa dpo --config=FILE --input=GLOB[,GLOB] --output=DIR [--overwrite=true] [Beam flags]
 * moaa judge-eval --config=FILE --input=PAIRS.jsonl --output=DIR
 * moaa eval-gen --config=FILE --model=NAME --bench=alpaca_eval|arena_hard|mt_bench [--output=DIR --limit=N]
 * moaa train --recipe=R.yaml [--stage=sft|dpo --data=GLOB --base-model=PATH --output-dir=DIR --config=FILE …]
 * moaa run --config=FILE [--output=DIR --sft-input=GLOB --dpo-input=GLOB] [Beam flags]
 * moaa quickstart [--output=DIR]
 * moaa simulate [--port=8089 --latency-ms=… --max-in-flight=… …]
 * moaa bench --workload=W1|W2|W3|W4 [--prompts=N --latency-ms=L --latency=fixed|longtail --cap=C …]
 * moaa bench-sft [--prompts=1000 --proposers=4 --latency-ms=500 --cap=32 …]
 * moaa flink-cluster start|stop|status [--dir=moaa-out/flink-cluster --taskmanagers=2 --slots=2]
 * </pre>
 */
public final class Moaa {
  private Moaa() {}

  public static void main(String[] args) {
    int code = run(args, System.out, System.err);
    System.exit(code);
  }

  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
      out.println(usage());
      return args.length == 0 ? 2 : 0;
    }
    String[] rest = Arrays.copyOfRange(args, 1, args.length);
    switch (args[0]) {
      case "sft":
        return TrainAfterRun.sft(RunnerDefaults.withDirectDefaults(rest), out, err);
      case "dpo":
        return TrainAfterRun.dpo(RunnerDefaults.withDirectDefaults(rest), out, err);
      case "train":
        return TrainCommand.run(rest, out, err);
      case "run":
        return LoopCommand.run(rest, out, err);
      case "judge-eval":
        return JudgeEvalCommand.run(RunnerDefaults.withDirectDefaults(rest), out, err);
      case "eval-gen":
        return EvalGenCommand.run(rest, out, err);
      case "simulate":
        return SimulatedEndpointMain.run(rest, out, err);
      case "quickstart":
        return Quickstart.run(rest, out, err);
      case "bench":
        return BenchCommand.run(rest, out, err);
      case "bench-sft":
        return SftBenchmark.run(rest, out, err);
      case "flink-cluster":
        return FlinkClusterCommand.run(rest, out, err);
      default:
        err.println("moaa: unknown command '" + args[0] + "'\n" + usage());
        return 2;
    }
  }

  static String usage() {
    return String.join("\n",
        "MoAA-Beam: Mixture-of-Agents alignment data on Apache Beam",
        "",
        "usage: moaa COMMAND [flags]",
        "  sft         --config=FILE --input=GLOB[,GLOB] --output=DIR [--overwrite=true] [Beam flags]",
        "              synthesize SFT data: proposers answer, the aggregator writes one answer per turn",
        "  dpo         --config=FILE --input=GLOB[,GLOB] --output=DIR [--overwrite=true] [Beam flags]",
        "              preference data: K answers from the policy, judged pairwise in both orders",
        "  judge-eval  --config=FILE --input=PAIRS.jsonl --output=DIR  accuracy, consistency and agreement",
        "              of the configured judge on labelled pairs (RewardBench layout)",
        "  eval-gen    --config=FILE --model=NAME --bench=alpaca_eval|arena_hard|mt_bench [--output=DIR",
        "              --limit=N --generator-name=ID --questions=FILE]  answer a benchmark's prompts with a",
        "              configured model, written in the harness's own format (AlpacaEval, Arena-Hard, MT-Bench)",
        "  train       --recipe=R.yaml [--stage=sft|dpo --data=GLOB --base-model=PATH --output-dir=DIR",
        "              --set=key=value --config=FILE --launcher=local|command --processes=N]  run the trainer",
        "              (sft and dpo also train when done if the config's train.after names them)",
        "  run         --config=FILE [--output=DIR --sft-input=GLOB --dpo-input=GLOB] [Beam flags]  the whole",
        "              loop: SFT data, SFT training, serve the SFT model, DPO data, DPO training; resumes",
        "  quickstart  [--output=DIR]  the SFT pipeline on a bundled sample against the simulated endpoint",
        "  simulate    [--port=8089 --latency-ms=200 --max-in-flight=32 ...]  a SIMULATED OpenAI-compatible",
        "              endpoint for tests and demos (no real model behind it)",
        "  bench       --workload=W1|W2|W3|W4 [--prompts=N --latency-ms=L --latency=fixed|longtail --cap=C",
        "              --allowed=A --fault-rate=F --output=DIR] [Beam flags]  the benchmark suite:",
        "              wall time against the endpoint bound, calls per model, CPU and peak memory",
        "  bench-sft   [--prompts=1000 --proposers=4 --latency-ms=500 --cap=32]  the first SFT benchmark",
        "  flink-cluster start|stop|status [--dir=moaa-out/flink-cluster --taskmanagers=2 --slots=2]",
        "              a local Flink 1.19 session cluster on 127.0.0.1; submit with --flinkMaster=127.0.0.1:PORT",
        "  help        this text");
  }
}
