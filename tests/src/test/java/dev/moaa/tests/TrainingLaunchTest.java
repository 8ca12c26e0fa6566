package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Training as the final step of {@code moaa sft} / {@code moaa dpo} ({@code train.after}), and
 * {@code moaa train} on its own, with small shell scripts as the trainer: real child processes,
 * real exit codes, real output.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TrainingLaunchTest {
  private SimulatedEndpoint sim;
  private Path work;
  private Path input;
  private Path recipe;

  @BeforeAll
  void start() throws Exception {
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(0));
    work = Fixtures.workDir("training-launch");
    input = work.resolve("in/prompts.jsonl");
    Files.createDirectories(input.getParent());
    Files.writeString(input, "{\"id\":\"a\",\"prompt\":\"Name a prime.\"}\n{\"id\":\"b\",\"prompt\":\"Say hello.\"}\n"
        + "{\"id\":\"c\",\"prompt\":\"Why is the sky blue?\"}\n");
    recipe = work.resolve("recipe.yaml");
    Files.writeString(recipe, "max_steps: 3\n");
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  private Path script(String name, String body) throws Exception {
    Path p = work.resolve(name);
    Files.writeString(p, "#!/bin/sh\n" + body);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }

  private Path config(String name, String baseUrl, String defaultsExtra, String train) throws Exception {
    Path cfg = work.resolve(name + ".yaml");
    Files.writeString(cfg, Fixtures.config(baseUrl, 2, 1, 1, defaultsExtra)
        + "dpo: {policy: p1, k: 2, judge: {mode: single, judges: [agg]}}\n" + train);
    return cfg;
  }

  @Test
  void aFailingTrainer_failsTheSftCommandWithItsExitCode_andPrintsItsLastLines() throws Exception {
    Path argv = work.resolve("failing-argv.txt");
    Path python = script("failing-python", "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" + argv + "'\n"
        + "i=1; while [ $i -le 50 ]; do echo \"step $i\"; i=$((i+1)); done\n"
        + "echo 'moaa-training: error: RuntimeError: CUDA out of memory' >&2\nexit 3\n");
    Path cfg = config("failing", sim.baseUrl(), "", "train: {recipe: recipe.yaml, after: [sft], python: failing-python}\n");
    Path out = work.resolve("failing-out");
    Fixtures.Run run = Fixtures.moaa("sft", "--config=" + cfg, "--input=" + input, "--output=" + out);

    assertEquals(3, run.code(), "the trainer's exit code: " + run.err());
    assertTrue(run.out().contains("MoAA SFT DONE"), "the pipeline finished before training started");
    Fixtures.assertReconciles(Fixtures.manifest(out), 3, 3, 0, 0);
    assertTrue(run.err().contains("moaa: train sft failed after"), run.err());
    assertTrue(run.err().contains("exit code 3; the last 40 line(s) of its output:"), run.err());
    assertTrue(run.err().contains("  | step 50\n  | moaa-training: error: RuntimeError: CUDA out of memory\n"), run.err());
    assertTrue(run.err().contains("  | step 12\n"), run.err());
    assertFalse(run.err().contains("  | step 11\n"), "only the last 40 lines: " + run.err());
    assertTrue(run.out().contains("[train sft] step 1\n"), "the output was streamed: " + run.out());
    assertEquals(List.of("-m", "moaa_training", "--recipe", recipe.toString(), "--stage", "sft",
        "--data", out.resolve("sft/parquet") + "/*.parquet", "--output-dir", out.resolve("model").toString()),
        Files.readAllLines(argv), "the trainer got the shards this run wrote");
    assertTrue(Files.readString(out.resolve("model/train.log")).contains("moaa-training: error: RuntimeError"));
  }

  @Test
  void aPassingTrainer_afterTheDpoCommand_reportsTheCheckpointPath() throws Exception {
    Path trainer = script("passing-trainer", """
        # {stage} {data} {output_dir}
        [ "$1" = dpo ] || { echo "wrong stage $1" >&2; exit 9; }
        ls $2 > /dev/null || exit 8
        mkdir -p "$3/final"
        printf '{"stage": "dpo", "checkpoint": "%s/final", "steps": 3}\\n' "$3" > "$3/training_complete.json"
        echo "trained on $(ls $2 | wc -l | tr -d ' ') shards"
        """);
    Path cfg = config("passing", sim.baseUrl(), "",
        "train:\n  dpo: {recipe: recipe.yaml}\n  after: [dpo]\n  command: \"" + trainer + " {stage} {data} {output_dir}\"\n");
    Path out = work.resolve("passing-out");
    Fixtures.Run run = Fixtures.moaa("dpo", "--config=" + cfg, "--input=" + input, "--output=" + out);

    assertEquals(0, run.code(), run.err());
    assertTrue(run.out().contains("MoAA DPO DONE"), run.out());
    assertTrue(run.out().matches("(?s).*\\[train dpo\\] trained on [12] shards\n.*"), run.out());
    assertTrue(run.out().contains("moaa: train dpo finished in"), run.out());
    assertTrue(run.out().contains("checkpoint: " + out.resolve("model/final")), run.out());
  }

  @Test
  void withoutTrainAfter_theSftCommandOnlyWritesData() throws Exception {
    Path cfg = config("no-after", sim.baseUrl(), "", "train: {recipe: recipe.yaml, python: failing-python}\n");
    Fixtures.Run run = Fixtures.moaa("sft", "--config=" + cfg, "--input=" + input, "--output=" + work.resolve("no-after-out"));
    assertEquals(0, run.code(), run.err());
    assertFalse(run.out().contains("train sft"), run.out());
  }

  @Test
  void moaaTrain_runsTheTrainerOnItsOwn_andBadFlagsAreUsageErrors() throws Exception {
    Path python = script("standalone-python", """
        echo "args: $*"
        echo "moaa-training: checkpoint /models/standalone/final"
        """);
    Fixtures.Run ok = Fixtures.moaa("train", "--recipe=" + recipe, "--stage=sft", "--data=/d/*.parquet",
        "--python=" + python, "--set=max_steps=5", "--set=lora.r=16");
    assertEquals(0, ok.code(), ok.err());
    assertTrue(ok.out().contains("[train sft] args: -m moaa_training --recipe " + recipe
        + " --stage sft --data /d/*.parquet --set lora.r=16 --set max_steps=5"), ok.out());
    assertTrue(ok.out().contains("checkpoint: /models/standalone/final"), ok.out());

    assertEquals(2, Fixtures.moaa("train", "--stage=sft").code(), "no recipe");
    assertEquals(2, Fixtures.moaa("train", "--recipe=" + recipe, "--stage=rl").code());
    assertEquals(2, Fixtures.moaa("train", "--recipe=" + recipe, "--processes=2", "--distributed=none").code());
    assertEquals(2, Fixtures.moaa("train", "--recipe=" + recipe, "--launcher=command").code());
    Fixtures.Run typo = Fixtures.moaa("train", "--recipe=" + recipe, "--outputdir=x");
    assertEquals(2, typo.code());
    assertTrue(typo.err().contains("unknown flag --outputdir"), typo.err());
  }

  /**
   * The bundled jar as a user runs it, the API key in its environment: the endpoints get it, the
   * trainer inherits it, and nothing moaa prints or writes contains it.
   */
  @Test
  void theApiKeyReachesTheTrainerThroughItsEnvironment_butNoLogOrCommandLine() throws Exception {
    String key = "sk-moaa-train-" + UUID.randomUUID().toString().replace("-", "");
    Path jar = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();
    assertTrue(Files.exists(jar), "the bundled jar is built before the tests module: " + jar);
    Path seen = work.resolve("key-seen-by-trainer.txt");
    Path trainer = script("key-trainer", "printf '%s' \"$MOAA_TEST_KEY\" > '" + seen + "'\n"
        + "echo \"the trainer has the key $MOAA_TEST_KEY\"\n"
        + "echo \"moaa-training: checkpoint $2/final\"\n");
    Path out = work.resolve("key-out");
    try (SimulatedEndpoint keyed = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(0)
        .withRequiredApiKey(key))) {
      Path cfg = config("keyed", keyed.baseUrl(), "  api_key_env: MOAA_TEST_KEY\n",
          "train: {recipe: recipe.yaml, after: [sft], command: \"" + trainer + " {stage} {output_dir} --token=$MOAA_TEST_KEY\"}\n");
      Path log = work.resolve("keyed-run.log");
      ProcessBuilder pb = new ProcessBuilder(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
          "-jar", jar.toString(), "sft", "--config=" + cfg, "--input=" + input, "--output=" + out))
          .redirectErrorStream(true).redirectOutput(log.toFile());
      pb.environment().put("MOAA_TEST_KEY", key);
      Process p = pb.start();
      assertTrue(p.waitFor(3, TimeUnit.MINUTES), "the run ends");
      String printed = Files.readString(log, StandardCharsets.UTF_8);
      System.out.println(printed);
      assertEquals(0, p.exitValue(), printed);
      assertTrue(keyed.requests().stream().allMatch(r -> r.authorized()), "the endpoints got the key");
      assertEquals(key, Files.readString(seen), "the trainer inherited the key");
      assertTrue(printed.contains("[train sft] the trainer has the key [REDACTED]"), printed);
      assertTrue(printed.contains("moaa: train sft: " + trainer + " sft " + out.resolve("model")
          + " '--token=$MOAA_TEST_KEY'"), "nothing is expanded in the command line: " + printed);
    }
    List<Path> hits = new ArrayList<>();
    try (Stream<Path> files = Files.walk(work)) {
      for (Path f : files.filter(Files::isRegularFile).filter(f -> !f.equals(seen)).toList()) {
        if (new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1).contains(key)) {
          hits.add(f);
        }
      }
    }
    assertEquals(List.of(), hits, "files containing the key (the run's log, outputs and train.log among them)");
  }
}
