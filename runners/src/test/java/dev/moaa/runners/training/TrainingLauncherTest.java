package dev.moaa.runners.training;

import dev.moaa.transforms.client.Redactor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.pipelines.CommandTemplate;
import dev.moaa.pipelines.TrainSettings;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher with real child processes: small shell scripts standing in for the trainer. */
class TrainingLauncherTest {
  private static final String KEY = "sk-test-0123456789abcdef";

  @TempDir Path dir;

  private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
  private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(outBytes, true, StandardCharsets.UTF_8);
  private final PrintStream err = new PrintStream(errBytes, true, StandardCharsets.UTF_8);

  private String out() {
    return outBytes.toString(StandardCharsets.UTF_8);
  }

  private String err() {
    return errBytes.toString(StandardCharsets.UTF_8);
  }

  private Path script(String name, String body) throws Exception {
    Path p = dir.resolve(name);
    Files.writeString(p, "#!/bin/sh\n" + body);
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    return p;
  }

  private TrainingLauncher.Job job(Path outputDir) throws Exception {
    Path recipe = dir.resolve("recipe.yaml");
    Files.writeString(recipe, "stage: sft\n");
    return new TrainingLauncher.Job("sft", recipe, List.of("/shards/*.parquet"), null, outputDir,
        new TreeMap<>(Map.of("max_steps", "3", "seed", "7")));
  }

  private static TrainSettings python(Path p) {
    return TrainSettings.defaults().withPython(p);
  }

  @Test
  void theLocalLauncher_runsTheTrainerModule_plainOrUnderTorchrunOrAccelerate() throws Exception {
    Path py = script("python", "exit 0\n");
    TrainingLauncher.Job job = job(dir.resolve("o"));
    List<String> trainer = List.of("--recipe", job.recipe().toString(), "--stage", "sft", "--data", "/shards/*.parquet",
        "--output-dir", dir.resolve("o").toString(), "--set", "max_steps=3", "--set", "seed=7");
    Redactor none = Redactor.of(List.of());
    assertEquals(concat(List.of(py.toString(), "-m", "moaa_training"), trainer),
        TrainingLauncher.of(python(py), none).argv(job));
    assertEquals(concat(List.of(py.toString(), "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4",
        "-m", "moaa_training"), trainer),
        TrainingLauncher.of(python(py).withProcesses(4, TrainSettings.Distributed.TORCHRUN), none).argv(job));
    assertEquals(concat(List.of(py.toString(), "-m", "accelerate.commands.launch", "--num_processes", "2",
        "-m", "moaa_training"), trainer),
        TrainingLauncher.of(python(py).withProcesses(2, TrainSettings.Distributed.ACCELERATE), none).argv(job));
  }

  private static List<String> concat(List<String> a, List<String> b) {
    return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
  }

  @Test
  void aPassingTrainer_reportsTheCheckpointOfItsLastLine_andItsOutputIsStreamedWithAPrefix() throws Exception {
    Path py = script("python", """
        echo "step 1 loss 2.0"
        echo "a warning" >&2
        echo "moaa-training: checkpoint /models/sft/final"
        """);
    Path log = dir.resolve("logs/train.log");
    TrainingLauncher.Result r = TrainingLauncher.of(python(py), Redactor.of(List.of())).run(job(dir.resolve("o")), out, err, log);
    assertTrue(r.ok(), err());
    assertEquals(0, r.commandExitCode());
    assertEquals("/models/sft/final", r.checkpoint());
    assertTrue(out().contains("[train sft] step 1 loss 2.0\n"), out());
    assertTrue(out().contains("[train sft] step 1 loss 2.0\n[train sft] a warning\n[train sft] moaa-training"),
        "standard error is merged in order: " + out());
    assertTrue(out().contains("moaa: train sft finished in"), out());
    assertTrue(out().contains("checkpoint: /models/sft/final"), out());
    List<String> logged = Files.readAllLines(log);
    assertEquals(List.of("step 1 loss 2.0", "a warning", "moaa-training: checkpoint /models/sft/final"), logged);
  }

  @Test
  void withoutACheckpointLine_theCheckpointComesFromTrainingCompleteJson_andAStaleOneIsRemovedFirst() throws Exception {
    Path o = dir.resolve("o");
    Files.createDirectories(o);
    Files.writeString(o.resolve(TrainingLauncher.COMPLETE_FILE), "{\"checkpoint\": \"/stale\"}");
    Path py = script("python", """
        # argv: -m moaa_training --recipe R --stage sft --data G --output-dir O ...: O is the tenth
        if [ -f "${10}/training_complete.json" ]; then echo "stale marker still there" >&2; exit 9; fi
        printf '{"stage": "sft", "checkpoint": "%s/final", "steps": 3}' "${10}" > "${10}/training_complete.json"
        """);
    TrainingLauncher.Result r = TrainingLauncher.of(python(py), Redactor.of(List.of())).run(job(o), out, err, null);
    assertTrue(r.ok(), err());
    assertEquals(o.resolve("final").toString(), r.checkpoint());
  }

  @Test
  void aFailingTrainer_givesItsExitCode_andItsLastFortyLinesAreShown() throws Exception {
    Path py = script("python", """
        i=1
        while [ $i -le 60 ]; do echo "line $i"; i=$((i+1)); done
        echo "moaa-training: error: learning_rate: expected a number, got 'fast'" >&2
        exit 7
        """);
    TrainingLauncher.Result r = TrainingLauncher.of(python(py), Redactor.of(List.of())).run(job(dir.resolve("o")), out, err, null);
    assertFalse(r.ok());
    assertEquals(7, r.exitCode());
    assertEquals(7, r.commandExitCode());
    assertNull(r.checkpoint());
    assertEquals(40, r.tail().size());
    assertEquals("moaa-training: error: learning_rate: expected a number, got 'fast'", r.tail().get(39));
    assertEquals("line 22", r.tail().get(0));
    assertTrue(err().contains("moaa: train sft failed after"), err());
    assertTrue(err().contains("exit code 7; the last 40 line(s) of its output:\n"), err());
    assertTrue(err().contains("  | line 60\n  | moaa-training: error: learning_rate"), err());
    assertFalse(err().contains("  | line 21\n"), err());
  }

  @Test
  void exitZeroWithoutACheckpoint_isAFailureWithExitCode1() throws Exception {
    Path py = script("python", "echo 'did nothing'\n");
    TrainingLauncher.Result r = TrainingLauncher.of(python(py), Redactor.of(List.of())).run(job(dir.resolve("o")), out, err, null);
    assertFalse(r.ok());
    assertEquals(0, r.exitCode());
    assertEquals(1, r.commandExitCode());
    assertTrue(err().contains("exit code 0 but no checkpoint"), err());
  }

  @Test
  void aProgramThatCannotStart_exits127WithTheReason() throws Exception {
    TrainingLauncher.Result r = TrainingLauncher.of(python(dir.resolve("no-such-python")), Redactor.of(List.of()))
        .run(job(dir.resolve("o")), out, err, null);
    assertEquals(127, r.commandExitCode());
    assertTrue(err().contains("cannot start " + dir.resolve("no-such-python")), err());
  }

  @Test
  void aCommandTemplate_passesEachValueAsOneArgument_withoutAShell_andTheKeyNeverReachesTheLog() throws Exception {
    Path argvFile = dir.resolve("argv.txt");
    Path seen = dir.resolve("seen-key.txt");
    Path sbatch = script("fake-sbatch", """
        for a in "$@"; do printf '%s\\n' "$a"; done > '""" + argvFile + """
        '
        printf '%s' "$TEST_API_KEY" > '""" + seen + """
        '
        echo "job sees key $TEST_API_KEY"
        echo "moaa-training: checkpoint $4/final"
        """);
    Path outputDir = dir.resolve("out; touch pwned " + KEY);
    Path recipe = dir.resolve("my recipe's.yaml");
    Files.writeString(recipe, "stage: dpo\n");
    TrainSettings t = TrainSettings.defaults().withLauncher(TrainSettings.Launcher.COMMAND, CommandTemplate.parse(
        sbatch + " {recipe} {stage} {data} {output_dir} {base_model} --hf-token=$TEST_API_KEY",
        TrainSettings.SCALAR_PLACEHOLDERS, TrainSettings.LIST_PLACEHOLDERS));
    TrainingLauncher.Job job = new TrainingLauncher.Job("dpo", recipe, List.of("/d/*.parquet"), "/models/sft final",
        outputDir, Map.of());
    Redactor redactor = Redactor.forEnvironment(Map.of("TEST_API_KEY", KEY), List.of());
    TrainingLauncher.Result r = TrainingLauncher.of(t, redactor).withEnvironment(Map.of("TEST_API_KEY", KEY))
        .run(job, out, err, dir.resolve("train.log"));
    assertTrue(r.ok(), err());
    assertEquals(List.of(recipe.toString(), "dpo", "/d/*.parquet", outputDir.toString(), "/models/sft final",
        "--hf-token=$TEST_API_KEY"), Files.readAllLines(argvFile), "one argument per placeholder, nothing expanded");
    assertFalse(Files.exists(dir.resolve("pwned")), "no shell ran the file name");
    assertEquals(KEY, Files.readString(seen), "the child inherits the key through its environment");
    assertEquals(outputDir.resolve("final").toString(), r.checkpoint());
    assertFalse(out().contains(KEY), out());
    assertFalse(err().contains(KEY), err());
    assertFalse(Files.readString(dir.resolve("train.log")).contains(KEY));
    assertTrue(out().contains("moaa: train dpo: " + sbatch), out());
    assertTrue(out().contains("'" + dir.resolve("out; touch pwned [REDACTED]") + "'"), "the command line is masked: " + out());
    assertTrue(out().contains("[train dpo] job sees key [REDACTED]"), out());
  }

  @Test
  void stop_endsTheChildAndItsDescendants() throws Exception {
    Path pidFile = dir.resolve("grandchild.pid");
    Path sh = script("tree", "sleep 300 &\necho $! > '" + pidFile + "'\necho started\nwait\n");
    ChildProcess c = ChildProcess.start("tree", List.of(sh.toString()), Map.of(), null, Redactor.of(List.of()), 5,
        (raw, l) -> { });
    for (int i = 0; i < 100 && !(Files.exists(pidFile) && !Files.readString(pidFile).isBlank()); i++) {
      Thread.sleep(50);
    }
    long grandchild = Long.parseLong(Files.readString(pidFile).trim());
    assertTrue(ProcessHandle.of(grandchild).map(ProcessHandle::isAlive).orElse(false));
    c.stop(Duration.ofSeconds(5));
    assertFalse(c.isAlive());
    Thread.sleep(100);
    assertFalse(ProcessHandle.of(grandchild).map(ProcessHandle::isAlive).orElse(false), "the grandchild is gone too");
  }
}
