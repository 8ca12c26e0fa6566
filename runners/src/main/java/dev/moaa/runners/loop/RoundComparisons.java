package dev.moaa.runners.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.ServeSettings;
import dev.moaa.pipelines.StepConfigs;
import dev.moaa.runners.eval.CompareCommand;
import dev.moaa.runners.launch.RunnerDefaults;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Did the round help? After each round of a loop with several rounds, its final model against the
 * round before's (from round 2) and against the base model, both served by the serve command (the
 * round's on {@code serve.port}, the other on the next port), answered on the loop's benchmark and
 * judged in both orders by the config's judge ({@link CompareCommand}). Each comparison writes
 * {@code ROUND/head-to-head/vs-OTHER/compare.json}; one made from the same checkpoints, benchmark and
 * config is not made again when the loop runs again.
 */
final class RoundComparisons {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String BASE = "base";

  private RoundComparisons() {}

  /** The comparisons of {@code current} (the last of {@code rounds}). */
  static void compare(LoopCommand.Plan plan, LoopCommand.Round current, List<LoopCommand.Round> rounds, PrintStream out,
      PrintStream err) throws StepFailure {
    String base = baseModel(rounds.get(0)).orElseThrow(() -> new StepFailure("round 1 names no base model in "
        + rounds.get(0).dir().resolve("sft-model").resolve("training_complete.json")));
    List<String[]> others = new ArrayList<>();
    if (current.number() > 1) {
      LoopCommand.Round prev = rounds.get(current.number() - 2);
      others.add(new String[] {LoopCommand.roundModel(prev.number()), prev.dpoCheckpoint(), prev.fingerprint()});
    }
    others.add(new String[] {BASE, base, base});
    for (String[] other : others) {
      compareWith(plan, current, other[0], other[1], other[2], out, err);
    }
  }

  /** The base model round 1 trained from, as its training recorded it. */
  static Optional<String> baseModel(LoopCommand.Round first) {
    try {
      JsonNode n = JSON.readTree(first.dir().resolve("sft-model").resolve("training_complete.json").toFile());
      String b = n.path("base_model").asText("");
      return b.isEmpty() ? Optional.empty() : Optional.of(b);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  static Path folder(LoopCommand.Round round, String other) {
    return round.dir().resolve("head-to-head").resolve("vs-" + other);
  }

  private static void compareWith(LoopCommand.Plan plan, LoopCommand.Round current, String otherName, String otherPath,
      String otherRevision, PrintStream out, PrintStream err) throws StepFailure {
    Path folder = folder(current, otherName);
    String a = LoopCommand.roundModel(current.number());
    ServeSettings serve = plan.serve();
    ServeSettings second = new ServeSettings(serve.command(), serve.port() + 1, serve.model(), serve.readyTimeoutS(),
        serve.stopTimeoutS(), serve.apiKeyEnv());
    String yaml = StepConfigs.compare(plan.configFile(), List.of(
        new StepConfigs.Served(a, serve.baseUrl(), serve.modelFor(current.dpoCheckpoint()), serve.apiKeyEnv(),
            current.fingerprint()),
        new StepConfigs.Served(otherName, second.baseUrl(), second.modelFor(otherPath), second.apiKeyEnv(),
            otherRevision)));
    MoaaConfig config = plan.stepConfig(yaml);
    String fingerprint = LoopCommand.fingerprint("head-to-head", config.hash(), plan.compareBench(),
        String.valueOf(plan.compareLimit()));
    Path fpFile = folder.resolve("fingerprint.txt");
    try {
      if (Files.isRegularFile(folder.resolve("compare.json")) && Files.isRegularFile(fpFile)
          && Files.readString(fpFile, StandardCharsets.UTF_8).trim().equals(fingerprint)) {
        out.println("moaa run: round " + current.number() + " head-to-head against " + otherName
            + ": skipped (made from the same checkpoints)");
        return;
      }
      Files.createDirectories(folder);
      Files.deleteIfExists(fpFile);
    } catch (IOException e) {
      throw new StepFailure("cannot prepare " + folder + ": " + e.getMessage());
    }
    out.println("moaa run: round " + current.number() + " head-to-head against " + otherName + ": start ("
        + plan.compareBench() + ", " + plan.compareLimit() + " questions)");
    try (PolicyServer mine = PolicyServer.start(serve, current.dpoCheckpoint(), plan.redactor(),
            folder.resolve("serve-" + a + ".log"), out);
        PolicyServer theirs = PolicyServer.start(second, otherPath, plan.redactor(),
            folder.resolve("serve-" + otherName + ".log"), out)) {
      mine.awaitReady();
      theirs.awaitReady();
      int code = CompareCommand.compare(config, a, otherName, plan.compareBench(), null, plan.compareLimit(), folder,
          RunnerDefaults.options(plan.beamFlags(), config), out, err);
      if (code != 0) {
        throw new StepFailure("the head-to-head of round " + current.number() + " against " + otherName
            + " exited with code " + code);
      }
      Files.writeString(fpFile, fingerprint + "\n", StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new StepFailure("the head-to-head of round " + current.number() + " against " + otherName + ": "
          + e.getMessage());
    }
  }
}
