package dev.moaa.transforms.clean;

import java.io.Serializable;

/**
 * One user prompt of a benchmark.
 *
 * @param benchmark e.g. {@code mt_bench}, {@code arena_hard_v2.0}, {@code alpaca_eval}
 * @param questionId the benchmark's own id of the question (AlpacaEval: the 0-based row)
 * @param turn 1-based turn of a multi-turn question (MT-Bench), else 1
 * @param text the prompt as the benchmark has it
 */
public record BenchmarkPrompt(String benchmark, String questionId, int turn, String text) implements Serializable {
  /** {@code BENCHMARK:QUESTION_ID}, with {@code #TURN} for a later turn. */
  public String reference() {
    return benchmark + ":" + questionId + (turn > 1 ? "#" + turn : "");
  }
}
