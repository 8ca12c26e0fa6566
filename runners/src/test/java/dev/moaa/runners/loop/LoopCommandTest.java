package dev.moaa.runners.loop;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code moaa run} refuses before its first step (exit code 2, nothing written). */
class LoopCommandTest {
  private static final String BASE = """
      defaults: {base_url: "http://127.0.0.1:9/v1"}
      models: {a: {model: m-a}, pol: {model: m-pol}}
      sft: {proposers: [a], aggregator: a}
      dpo: {policy: pol, judge: {mode: single, judges: [a]}}
      """;
  private static final String TRAIN = "train: {recipe: r.yaml}\n";
  private static final String SERVE = "serve: {command: \"vllm serve {checkpoint} --port {port}\", port: 8011}\n";
  private static final String LOOP = "loop: {output: out, sft_input: in.jsonl}\n";

  @TempDir Path dir;

  @BeforeEach
  void files() throws Exception {
    Files.writeString(dir.resolve("r.yaml"), "max_steps: 1\n");
    Files.writeString(dir.resolve("in.jsonl"), "{\"prompt\": \"hi\"}\n");
  }

  private String refused(String yaml, String... flags) throws Exception {
    Files.writeString(dir.resolve("c.yaml"), yaml);
    String[] args = new String[flags.length + 1];
    args[0] = "--config=" + dir.resolve("c.yaml");
    System.arraycopy(flags, 0, args, 1, flags.length);
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = LoopCommand.run(args, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true,
        StandardCharsets.UTF_8));
    assertEquals(2, code, err.toString(StandardCharsets.UTF_8));
    assertFalse(Files.exists(dir.resolve("out")), "nothing is written before the checks pass");
    return err.toString(StandardCharsets.UTF_8);
  }

  @Test
  void aLoopWithoutItsSections_isAConfigurationError_namingTheSection() throws Exception {
    assertTrue(refused(BASE + SERVE + LOOP).contains("configuration error: train: missing required section"));
    assertTrue(refused(BASE + TRAIN + LOOP).contains("configuration error: serve: missing required section"));
    assertTrue(refused(BASE + "train: {sft: {recipe: r.yaml}}\n" + SERVE + LOOP)
        .contains("train.dpo.recipe: missing"));
    assertTrue(refused(BASE.replace("dpo: {policy: pol, ", "dpo: {") + TRAIN + SERVE + LOOP)
        .contains("dpo.policy: missing required field"));
    assertTrue(refused(BASE + TRAIN + SERVE.replace("port: 8011", "port: 8011, api_key_env: MOAA_UNSET_VARIABLE_X")
        + LOOP).contains("serve.api_key_env: environment variable MOAA_UNSET_VARIABLE_X is not set"));
  }

  @Test
  void missingFoldersOrInputs_areUsageErrors() throws Exception {
    assertTrue(refused(BASE + TRAIN + SERVE).contains("the loop needs a folder"));
    assertTrue(refused(BASE + TRAIN + SERVE, "--output=" + dir.resolve("out")).contains("the loop needs a corpus"));
    assertTrue(refused(BASE + TRAIN + SERVE + LOOP, "--dpo-input=" + dir.resolve("nothing*.jsonl"))
        .contains("--dpo-input " + dir.resolve("nothing*.jsonl") + " matches no file"));
    assertTrue(refused(BASE + TRAIN + SERVE + LOOP, "stray").contains("unexpected argument 'stray'"));
    assertTrue(refused(BASE + TRAIN + SERVE + LOOP, "--output=a", "--output=b").contains("--output given twice"));
    assertTrue(refused(BASE + TRAIN + SERVE + LOOP, "--input=x.jsonl").contains("--input is set by moaa run itself"));
  }
}
