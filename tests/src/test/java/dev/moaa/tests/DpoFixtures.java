package dev.moaa.tests;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Inputs and configs of the DPO end-to-end tests. */
final class DpoFixtures {
  private DpoFixtures() {}

  /**
   * 100 prompts: 25 Arena-Hard v0.1, 25 AlpacaEval 2, 40 generated single-turn, and 10 two-turn
   * conversations that carry their first reply (so the prompt holds real history).
   */
  static Path hundredPrompts(Path dir) throws IOException {
    Path input = dir.resolve("input");
    Files.createDirectories(input);
    for (String f : List.of("arena_hard_v0.1_sample.jsonl", "alpaca_eval_sample.jsonl")) {
      try (InputStream in = DpoFixtures.class.getResourceAsStream("/SftEndToEndTest/" + f)) {
        Files.copy(in, input.resolve(f));
      }
    }
    try (BufferedWriter w = Files.newBufferedWriter(input.resolve("generated.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < 40; i++) {
        w.write("{\"id\":\"g-" + i + "\",\"prompt\":\"Question " + i + ": how should a team version its datasets?\"}\n");
      }
      for (int i = 0; i < 10; i++) {
        w.write("{\"id\":\"mt-" + i + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Name a sorting algorithm (" + i
            + ").\"},{\"role\":\"assistant\",\"content\":\"Merge sort.\"},{\"role\":\"user\",\"content\":\"Why is it stable? ("
            + i + ")\"}]}\n");
      }
    }
    return input;
  }

  /** Models: policy, judges j1..jn and a lead judge, all on the simulator; decontamination off. */
  static String config(String baseUrl, String judgeSection, int k) {
    return "defaults:\n"
        + "  base_url: " + baseUrl + "\n"
        + "  max_concurrency: 24\n"
        + "  read_timeout_ms: 5000\n"
        + "  retry: {max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 50}\n"
        + "  price: {input_per_million: 0.5, output_per_million: 1.5}\n"
        + "models:\n"
        + "  policy: {model: sim-policy, max_tokens: 300}\n"
        + "  j1: {model: sim-judge-1}\n"
        + "  j2: {model: sim-judge-2}\n"
        + "  j3: {model: sim-judge-3}\n"
        + "  lead: {model: sim-judge-lead}\n"
        + "  biased: {model: sim-judge-biased}\n"
        + "dpo:\n"
        + "  policy: policy\n"
        + "  k: " + k + "\n"
        + "  seed: 100\n"
        + "  judge: " + judgeSection + "\n"
        + "output: {shards: 2}\n"
        // hundredPrompts is half benchmark prompts, used as realistic inputs
        + Fixtures.BENCHMARK_INPUT;
  }

  static double quality(JsonNode messageList) {
    return dev.moaa.runners.sim.SimulatedQuality.qualityOf(messageList.get(0).get("content").asText());
  }
}
