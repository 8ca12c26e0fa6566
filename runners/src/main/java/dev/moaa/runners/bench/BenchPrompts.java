package dev.moaa.runners.bench;

/**
 * Varied synthetic prompts for benchmarks. A corpus of one sentence with only a number changing
 * is a worst case for near-duplicate search (every row lands in the same LSH buckets) that real
 * instruction sets do not have; these combine a task, a subject, an audience and a form drawn
 * from separate lists with co-prime strides, so rows rarely share more than a few word 5-grams.
 */
public final class BenchPrompts {
  private static final String[] TASKS = {"explain", "compare", "summarise the history of", "list the risks of",
      "design a small exercise about", "write a short story involving", "critique a common view of",
      "give three examples of", "outline a lesson plan on", "answer frequent questions about", "debate",
      "estimate the cost of", "describe a day working with"};
  private static final String[] SUBJECTS = {"distributed data processing", "tidal energy", "sourdough baking",
      "medieval trade routes", "graph databases", "bird migration", "urban beekeeping", "jazz harmony",
      "container shipping", "volcanic soils", "public key cryptography", "chess openings", "river deltas",
      "open source licensing", "glacier retreat", "the printing press", "vaccine trials", "solar sails",
      "coral reefs", "tax policy", "typography", "sleep research", "rail signalling"};
  private static final String[] AUDIENCES = {"a new engineer", "a curious child", "a retired teacher",
      "a startup founder", "a museum visitor", "a graduate student", "a city planner", "a novelist",
      "a nurse on night shift", "a skeptical investor", "a high school class"};
  private static final String[] FORMS = {"in plain prose", "as a numbered list", "in under two hundred words",
      "with one analogy", "as a dialogue", "with a table", "ending with a question", "in a formal tone",
      "with a worked example", "as bullet points"};

  private BenchPrompts() {}

  /** Prompt {@code i}: deterministic, distinct for every i. */
  public static String prompt(int i) {
    return "Request " + i + ": " + TASKS[i % TASKS.length] + " " + SUBJECTS[(i / TASKS.length + 7 * i) % SUBJECTS.length]
        + " for " + AUDIENCES[(3 * i + i / 17) % AUDIENCES.length] + ", " + FORMS[(5 * i + i / 29) % FORMS.length] + ".";
  }
}
