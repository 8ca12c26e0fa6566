package dev.moaa.runners.training;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.TrainSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code moaa sft} and {@code moaa dpo} with training as their final step: the pipeline runs to
 * its end first; only when it is DONE and reconciled, and the config's {@code train.after} names
 * it, the trainer is launched on the Parquet shards the run just wrote, with output in {@code
 * OUTPUT/model}. The command's exit code is then the trainer's (see {@link TrainingLauncher}).
 */
public final class TrainAfterRun {
  private TrainAfterRun() {}

  /**
   * Trains on the shards of a finished {@code stage} run in {@code output} when {@code config}'s
   * {@code train.after} names the stage; 0 when it does not.
   */
  public static int train(String stage, String shardDir, Path output, MoaaConfig config, PrintStream out,
      PrintStream err) {
    TrainSettings settings = config.train().orElse(null);
    if (settings == null || !settings.trainsAfter(stage)) {
      return 0;
    }
    Path shards = output.resolve(shardDir).resolve("parquet");
    if (countParquet(shards) == 0) {
      err.println("moaa " + stage + ": train.after asks for training, but the run wrote no rows to train on");
      return 1;
    }
    TrainSettings.Stage s = settings.stage(stage).orElseThrow();
    TrainingLauncher.Job job = new TrainingLauncher.Job(stage, s.recipe(), List.of(shards + "/*.parquet"), null,
        output.resolve("model"), s.overrides());
    out.println("moaa " + stage + ": the data is complete; training (train.after names " + stage + ")");
    return TrainingLauncher.of(settings, TrainCommand.redactor(config))
        .run(job, out, err, output.resolve("model").resolve("train.log")).commandExitCode();
  }

  /** How many Parquet shards {@code dir} holds (0 for a missing folder). */
  public static long countParquet(Path dir) {
    if (!Files.isDirectory(dir)) {
      return 0;
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".parquet")).count();
    } catch (IOException e) {
      return 0;
    }
  }
}
