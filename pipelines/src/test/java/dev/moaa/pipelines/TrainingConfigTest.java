package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The train:, serve: and loop: sections, and the config files moaa run derives for its data steps. */
class TrainingConfigTest {
  private static final String MODELS = """
      defaults: {base_url: "http://127.0.0.1:9/v1", api_key_env: KEY_A, price: {input_per_million: 1, output_per_million: 2}}
      models:
        a: {model: model-a}
        pol: {model: remote-policy, temperature: 0.9}
      sft: {proposers: [a], aggregator: a}
      dpo: {policy: pol, judge: {mode: single, judges: [pol]}}
      """;

  @TempDir Path dir;

  @BeforeEach
  void recipes() throws Exception {
    Files.writeString(dir.resolve("sft.yaml"), "stage: sft\n");
    Files.writeString(dir.resolve("dpo.yaml"), "stage: dpo\n");
    Files.writeString(dir.resolve("both.yaml"), "learning_rate: 1.0e-5\n");
  }

  private MoaaConfig parse(String extra) {
    return MoaaConfig.parse(MODELS + extra, Map.of("KEY_A", "sk-a")::get, dir);
  }

  private void failsAt(String extra, String path, String words) {
    ConfigException e = assertThrows(ConfigException.class, () -> parse(extra));
    assertEquals(path, e.path(), e.getMessage());
    assertTrue(e.getMessage().contains(words), e.getMessage());
  }

  @Test
  void aTrainSection_resolvesRecipesAgainstTheConfigFolder_andMergesOverrides() {
    TrainSettings t = parse("""
        train:
          recipe: both.yaml
          set: {max_steps: 5, seed: 1}
          dpo: {recipe: dpo.yaml, set: {beta: 0.2, seed: 2}}
          after: [sft]
        """).train().orElseThrow();
    assertEquals(dir.resolve("both.yaml"), t.stage("sft").orElseThrow().recipe());
    assertEquals(Map.of("max_steps", "5", "seed", "1"), t.stage("sft").orElseThrow().overrides());
    assertEquals(dir.resolve("dpo.yaml"), t.stage("dpo").orElseThrow().recipe());
    assertEquals(Map.of("max_steps", "5", "seed", "2", "beta", "0.2"), t.stage("dpo").orElseThrow().overrides());
    assertTrue(t.trainsAfter("sft"));
    assertFalse(t.trainsAfter("dpo"));
    assertEquals(TrainSettings.Launcher.LOCAL, t.launcher());
    assertEquals(TrainSettings.Distributed.NONE, t.distributed());
    assertEquals(1, t.processes());
  }

  @Test
  void severalProcesses_defaultToTorchrun_andACommandImpliesTheCommandLauncher() {
    TrainSettings t = parse("train: {recipe: both.yaml, processes: 8}\n").train().orElseThrow();
    assertEquals(TrainSettings.Distributed.TORCHRUN, t.distributed());
    TrainSettings c = parse("train: {recipe: both.yaml, command: \"sbatch --wait run.sh {args}\"}\n").train().orElseThrow();
    assertEquals(TrainSettings.Launcher.COMMAND, c.launcher());
    assertEquals(List.of("sbatch", "--wait", "run.sh", "{args}"), c.command().words());
  }

  @Test
  void badTrainSections_nameTheField() {
    failsAt("train: {recipe: both.yaml, epochs: 3}\n", "train.epochs", "unknown field");
    failsAt("train: {sft: {recipe: sft.yaml, lr: 1}}\n", "train.sft.lr", "unknown field");
    failsAt("train: {recipe: missing.yaml}\n", "train.recipe", "no such file");
    failsAt("train: {sft: {recipe: sft.yaml}, after: [dpo]}\n", "train.after[0]", "needs a recipe");
    failsAt("train: {recipe: both.yaml, after: [rlhf]}\n", "train.after[0]", "unknown stage");
    failsAt("train: {recipe: both.yaml, launcher: command}\n", "train.command", "missing required field");
    failsAt("train: {recipe: both.yaml, launcher: local, command: x}\n", "train.command", "only used with");
    failsAt("train: {recipe: both.yaml, launcher: slurm}\n", "train.launcher", "local or command");
    failsAt("train: {recipe: both.yaml, processes: 2, distributed: none}\n", "train.distributed", "one process");
    failsAt("train: {recipe: both.yaml, distributed: deepspeed}\n", "train.distributed", "torchrun");
    failsAt("train: {recipe: both.yaml, command: \"run {recipes}\"}\n", "train.command", "unknown placeholder");
    failsAt("train: {recipe: both.yaml, set: {lora: {r: 8}}}\n", "train.set.lora", "string, number or boolean");
    failsAt("train: {recipe: both.yaml, python: nowhere/python}\n", "train.python", "no executable");
  }

  @Test
  void serveAndLoopSections_haveDefaults_andRefuseUnknownFields() {
    MoaaConfig c = parse("""
        serve: {command: "vllm serve {checkpoint} --port {port}"}
        loop: {output: out, sft_input: "data/*.jsonl, more/*.parquet"}
        """);
    ServeSettings s = c.serve().orElseThrow();
    assertEquals(8011, s.port());
    assertEquals(600, s.readyTimeoutS());
    assertEquals("/ckpt", s.modelFor("/ckpt"), "without serve.model, requests name the checkpoint path");
    assertEquals("http://127.0.0.1:8011/v1", s.baseUrl());
    LoopSettings l = c.loop().orElseThrow();
    assertEquals(dir.resolve("out").toString(), l.output());
    assertEquals(List.of(dir.resolve("data/*.jsonl").toString(), dir.resolve("more/*.parquet").toString()), l.sftInput());
    assertTrue(l.dpoInput().isEmpty(), "no dpo_input: the loop uses the SFT corpus");
    failsAt("serve: {command: x, health: /v1/models}\n", "serve.health", "unknown field");
    failsAt("serve: {port: 8011}\n", "serve.command", "missing required field");
    failsAt("serve: {command: \"x {checkpoint} {data}\"}\n", "serve.command", "unknown placeholder {data}");
    failsAt("serve: {command: x, port: 70000}\n", "serve.port", "from 1 to 65535");
    failsAt("serve: {command: x, api_key_env: 'not a name'}\n", "serve.api_key_env", "NAME");
    failsAt("loop: {output: o, sft_input: 3}\n", "loop.sft_input", "globs");
    failsAt("loop: {outdir: o}\n", "loop.outdir", "unknown field");
    assertNull(parse("").train().orElse(null));
  }

  @Test
  void theDpoStepConfig_pointsOnlyThePolicyAtTheServedModel_withoutPriceOrDefaultKey() throws Exception {
    Path file = dir.resolve("loop.yaml");
    Files.writeString(file, MODELS + """
        train: {recipe: both.yaml}
        serve: {command: "x {checkpoint}", port: 8123, model: sft-model}
        loop: {output: out, sft_input: in.jsonl}
        """);
    MoaaConfig original = MoaaConfig.parse(Files.readString(file), Map.of("KEY_A", "sk-a")::get, dir);
    String sftYaml = StepConfigs.sftData(file);
    MoaaConfig sft = MoaaConfig.parse(sftYaml, Map.of("KEY_A", "sk-a")::get, dir);
    assertTrue(sft.train().isEmpty() && sft.serve().isEmpty() && sft.loop().isEmpty());
    assertEquals(MoaaConfig.parse(MODELS, Map.of("KEY_A", "sk-a")::get).hash(), sft.hash(),
        "the SFT step's config is the user's file without the loop's sections");
    assertEquals(original.hash(), sft.hash(), "training, serving and the loop do not change what a row holds");

    String dpoYaml = StepConfigs.dpoData(file, "http://127.0.0.1:8123/v1", "sft-model", null, "fp-1");
    MoaaConfig dpo = MoaaConfig.parse(dpoYaml, Map.of("KEY_A", "sk-a")::get, dir);
    assertEquals(StepConfigs.SERVED_POLICY, dpo.dpo().policy().name());
    assertEquals("http://127.0.0.1:8123/v1", dpo.dpo().policy().baseUrl());
    assertEquals("sft-model", dpo.dpo().policy().modelId());
    assertEquals("fp-1", dpo.dpo().policy().revision(), "the checkpoint's answers are cached apart");
    assertNull(dpo.dpo().policy().apiKeyEnv(), "the default key is not sent to the local server");
    assertEquals(0.0, dpo.dpo().policy().inputPricePerMillion());
    assertEquals(0.9, dpo.models().get(StepConfigs.SERVED_POLICY).temperature(), "the policy entry keeps its settings");
    assertEquals("remote-policy", dpo.models().get("pol").modelId(), "the judge 'pol' keeps its own endpoint");
    assertEquals("KEY_A", dpo.models().get("pol").apiKeyEnv());
    JsonNode tree = new ObjectMapper(new YAMLFactory()).readTree(dpoYaml);
    assertTrue(tree.path("defaults").isMissingNode());
    assertEquals("KEY_B", MoaaConfig.parse(StepConfigs.dpoData(file, "http://127.0.0.1:8123/v1", "m", "KEY_B", "fp-1"),
        Map.of("KEY_A", "a", "KEY_B", "b")::get, dir).dpo().policy().apiKeyEnv());
  }
}
