package dev.moaa.transforms.clean;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.transforms.input.JsonLines;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads benchmark prompt sets: the ones bundled with the product (AlpacaEval 2, Arena-Hard v0.1 and
 * v2.0, MT-Bench; see {@code benchmarks/NOTICE.md} beside them) and files a user adds.
 *
 * <p>A user file is JSONL, one question per line, with the prompt in {@code prompt},
 * {@code instruction} or {@code turns} (a list of strings or of {@code {"content": …}} objects;
 * every turn counts), and optionally an id in {@code question_id}, {@code uid} or {@code id}
 * (else the 1-based line number). Blank lines are skipped; anything else that does not fit is an
 * {@link IllegalArgumentException} naming the line.
 */
public final class BenchmarkPrompts {
  private static final String FOLDER = "benchmarks/";

  /** Names a user may list in {@code clean.benchmarks}, each with its bundled files. */
  private static final Map<String, List<String>> BUNDLED = new LinkedHashMap<>();

  static {
    BUNDLED.put("alpaca_eval", List.of("alpaca_eval"));
    BUNDLED.put("arena_hard", List.of("arena_hard_v0.1", "arena_hard_v2.0"));
    BUNDLED.put("arena_hard_v0.1", List.of("arena_hard_v0.1"));
    BUNDLED.put("arena_hard_v2.0", List.of("arena_hard_v2.0"));
    BUNDLED.put("mt_bench", List.of("mt_bench"));
  }

  private static final Map<String, String> FILES = Map.of(
      "alpaca_eval", "alpaca_eval_instructions.jsonl",
      "arena_hard_v0.1", "arena_hard_v0.1_question.jsonl",
      "arena_hard_v2.0", "arena_hard_v2.0_question.jsonl",
      "mt_bench", "mt_bench_question.jsonl");

  /** The default set: every bundled benchmark. */
  public static final List<String> ALL = List.of("alpaca_eval", "arena_hard", "mt_bench");

  private BenchmarkPrompts() {}

  /** The names accepted by {@link #bundled}. */
  public static List<String> names() {
    return List.copyOf(BUNDLED.keySet());
  }

  /** Every user prompt of the named bundled benchmarks, each file once. */
  public static List<BenchmarkPrompt> bundled(List<String> names) {
    List<String> files = new ArrayList<>();
    for (String name : names) {
      List<String> parts = BUNDLED.get(name);
      if (parts == null) {
        throw new IllegalArgumentException("unknown benchmark '" + name + "'; bundled: " + names());
      }
      parts.stream().filter(p -> !files.contains(p)).forEach(files::add);
    }
    List<BenchmarkPrompt> out = new ArrayList<>();
    for (String benchmark : files) {
      String resource = FOLDER + FILES.get(benchmark);
      try (InputStream in = BenchmarkPrompts.class.getResourceAsStream(resource)) {
        if (in == null) {
          throw new IllegalStateException("bundled benchmark file missing from the classpath: " + resource);
        }
        out.addAll(read(benchmark, new InputStreamReader(in, StandardCharsets.UTF_8)));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read bundled " + resource, e);
      }
    }
    return out;
  }

  /** A user's file; the benchmark is named after the file, without {@code .jsonl}. */
  public static List<BenchmarkPrompt> fromFile(Path file) {
    String name = file.getFileName().toString().replaceFirst("\\.jsonl?$", "");
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      List<BenchmarkPrompt> prompts = read(name, r);
      if (prompts.isEmpty()) {
        throw new IllegalArgumentException(file + " holds no prompt");
      }
      return prompts;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
    }
  }

  static List<BenchmarkPrompt> read(String benchmark, Reader reader) throws IOException {
    List<BenchmarkPrompt> out = new ArrayList<>();
    int[] row = {0};
    JsonLines.forEach(reader, benchmark, (number, n) -> {
      if (n == null || !n.isObject()) {
        throw new IllegalArgumentException(benchmark + " line " + number + ": expected a JSON object");
      }
      String id = idOf(n, benchmark.equals("alpaca_eval") ? String.valueOf(row[0]) : String.valueOf(number));
      row[0]++;
      List<String> turns = turnsOf(n);
      if (turns.isEmpty()) {
        throw new IllegalArgumentException(benchmark + " line " + number
            + ": no prompt (expected a non-empty 'prompt', 'instruction' or 'turns')");
      }
      for (int t = 0; t < turns.size(); t++) {
        out.add(new BenchmarkPrompt(benchmark, id, t + 1, turns.get(t)));
      }
    });
    return out;
  }

  private static String idOf(JsonNode n, String fallback) {
    for (String f : List.of("question_id", "uid", "id")) {
      JsonNode v = n.get(f);
      if (v != null && (v.isTextual() || v.isIntegralNumber()) && !v.asText().isBlank()) {
        return v.asText();
      }
    }
    return fallback;
  }

  private static List<String> turnsOf(JsonNode n) {
    List<String> turns = new ArrayList<>();
    for (String f : List.of("prompt", "instruction")) {
      if (n.path(f).isTextual() && !n.get(f).asText().isBlank()) {
        turns.add(n.get(f).asText());
        return turns;
      }
    }
    for (JsonNode t : n.path("turns")) {
      String text = t.isTextual() ? t.asText() : t.path("content").asText("");
      if (!text.isBlank()) {
        turns.add(text);
      }
    }
    return turns;
  }
}
