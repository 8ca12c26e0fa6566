package dev.moaa.runners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The command layer: every command's {@code --help} is generated from its declarations and names
 * every flag it reads; unknown and misspelt flags, bad values and missing flags are usage errors
 * (exit code 2) in the product's words, naming the flag and the closest valid one.
 */
class CommandLineTest {
  private static final String GOOD = """
      defaults: {base_url: "http://127.0.0.1:9/v1", max_concurrency: 8}
      models:
        a: {model: model-a, api_key_env: KEY_A, temperature: 0.7, price: {input_per_million: 1.5, output_per_million: 3}}
        b: {model: model-b, retry: {max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20}}
        agg: {model: model-agg, base_url: "https://example.invalid/v1", max_concurrency: 4}
      sft: {proposers: [a, b], aggregator: agg, layers: 2}
      """;

  private record Run(int code, String out, String err) {}

  private static Run moaa(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Moaa.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private static int sft(String[] args, PrintStream out, PrintStream err) {
    String[] all = new String[args.length + 1];
    all[0] = "sft";
    System.arraycopy(args, 0, all, 1, args.length);
    return Moaa.run(all, out, err);
  }

  /** Every command and sub-command, by its qualified name ({@code flink-cluster start}). */
  private static Map<String, CommandLine> commands() {
    Map<String, CommandLine> all = new java.util.TreeMap<>();
    collect(Moaa.commandLine(System.out, System.err), all);
    all.remove("moaa help");
    return all;
  }

  private static void collect(CommandLine cl, Map<String, CommandLine> into) {
    into.put(cl.getCommandSpec().qualifiedName(" "), cl);
    cl.getSubcommands().values().forEach(sub -> collect(sub, into));
  }

  @Test
  void everyCommandsHelp_isGeneratedFromItsFlags_andExitsZero() {
    Map<String, CommandLine> commands = commands();
    assertEquals(List.of("moaa", "moaa bench", "moaa bench-sft", "moaa cancel", "moaa compare", "moaa dpo", "moaa eval-gen", "moaa finish", "moaa flink-cluster",
        "moaa flink-cluster start", "moaa flink-cluster status", "moaa flink-cluster stop", "moaa judge-eval",
        "moaa quickstart", "moaa run", "moaa sft", "moaa simulate", "moaa train"), new ArrayList<>(commands.keySet()));
    for (Map.Entry<String, CommandLine> c : commands.entrySet()) {
      List<String> words = new ArrayList<>(List.of(c.getKey().split(" ")));
      words.remove(0);
      words.add("--help");
      Run help = moaa(words.toArray(String[]::new));
      assertEquals(0, help.code(), c.getKey() + ": " + help.err());
      assertTrue(help.out().startsWith("Usage: " + c.getKey()), help.out());
      for (OptionSpec o : c.getValue().getCommandSpec().options()) {
        assertTrue(help.out().contains(o.longestName()), c.getKey() + " --help names " + o.longestName() + ":\n" + help.out());
        assertFalse(o.description().length == 0, c.getKey() + " " + o.longestName() + " has a description");
      }
      assertTrue(help.err().isEmpty(), help.err());
    }
    Run top = moaa("--help");
    for (String sub : List.of("sft", "dpo", "judge-eval", "eval-gen", "compare", "train", "run", "quickstart", "simulate", "bench",
        "bench-sft", "flink-cluster")) {
      assertTrue(top.out().contains("  " + sub + " "), "moaa --help lists " + sub + ":\n" + top.out());
    }
    assertEquals(2, moaa().code(), "moaa alone: the usage, and a usage error");
  }

  @Test
  void aMisspeltFlag_exitsTwo_namingTheFlagAndTheClosestValidOne(@TempDir Path dir) throws Exception {
    Path cfg = dir.resolve("c.yaml");
    Files.writeString(cfg, GOOD.replace("api_key_env: KEY_A, ", ""));
    Files.writeString(dir.resolve("in.jsonl"), "{\"prompt\":\"hi\"}\n");
    String[][] cases = {
        {"sft", "--config=" + cfg, "--input=" + dir.resolve("in.jsonl"), "--ouput=" + dir.resolve("o")},
        {"sft", "--config=" + cfg, "--input=" + dir.resolve("in.jsonl"), "--output=" + dir.resolve("o"),
            "--flinkMastr=127.0.0.1:8081"},
        {"dpo", "--confg=" + cfg},
        {"simulate", "--latency-msec=5"},
        {"train", "--recipie=r.yaml"},
        {"bench", "--promts=10", "--output=" + dir.resolve("b")},
        {"bench-sft", "--proposer=2", "--output=" + dir.resolve("bs")},
        {"eval-gen", "--modle=a"},
        {"judge-eval", "--inptu=x"},
        {"run", "--sft-inputs=x"},
        {"quickstart", "--outptu=x"},
        {"compare", "--becnh=mt_bench"},
        {"flink-cluster", "start", "--taskmanager=1"}};
    String[][] expected = {{"--ouput", "--output"}, {"--flinkMastr", "--flinkMaster"}, {"--confg", "--config"},
        {"--latency-msec", "--latency-ms"}, {"--recipie", "--recipe"}, {"--promts", "--prompts"},
        {"--proposer", "--proposers"}, {"--modle", "--model"}, {"--inptu", "--input"}, {"--sft-inputs", "--sft-input"},
        {"--outptu", "--output"}, {"--becnh", "--bench"}, {"--taskmanager", "--taskmanagers"}};
    for (int i = 0; i < cases.length; i++) {
      Run r = moaa(cases[i]);
      assertEquals(2, r.code(), String.join(" ", cases[i]) + ": " + r.err());
      String name = "moaa " + (cases[i][0].equals("flink-cluster") ? "flink-cluster start" : cases[i][0]);
      assertTrue(r.err().startsWith(name + ": unknown flag " + expected[i][0] + " (did you mean " + expected[i][1] + "?)"),
          String.join(" ", cases[i]) + ": " + r.err());
      assertFalse(r.err().contains("Exception") || r.err().contains("RunOptions"), r.err());
    }
    assertFalse(Files.exists(dir.resolve("o")), "nothing is written after a usage error");
    assertFalse(Files.exists(dir.resolve("b")) || Files.exists(dir.resolve("bs")),
        "the benchmarks check the flags they pass through before they write their input");
    Run far = moaa("simulate", "--colour=blue");
    assertTrue(far.err().startsWith("moaa simulate: unknown flag --colour\n"), "no suggestion when none is close: " + far.err());
    Run command = moaa("stf", "--config=x");
    assertEquals(2, command.code());
    assertTrue(command.err().contains("unknown command 'stf' (did you mean sft?)"), command.err());
  }

  @Test
  void badValuesAndMissingFlags_areUsageErrorsInTheProductsWords() {
    Run value = moaa("simulate", "--latency-ms=slow");
    assertEquals(2, value.code());
    assertTrue(value.err().startsWith("moaa simulate: --latency-ms needs a whole number, got 'slow'"), value.err());
    Run missing = moaa("sft", "--input=x");
    assertEquals(2, missing.code());
    assertTrue(missing.err().startsWith("moaa sft: --config, --output are required")
        || missing.err().startsWith("moaa sft: --config is required"), missing.err());
    Run noValue = moaa("simulate", "--seed");
    assertEquals(2, noValue.code());
    assertTrue(noValue.err().startsWith("moaa simulate: --seed needs a value"), noValue.err());
    Run bool = moaa("bench-sft", "--prompts=many");
    assertTrue(bool.err().startsWith("moaa bench-sft: --prompts needs a whole number, got 'many'"), bool.err());
    Run twice = moaa("simulate", "--port=1", "--port=2");
    assertEquals(2, twice.code());
    assertTrue(twice.err().startsWith("moaa simulate: --port given twice"), twice.err());
    Run word = moaa("sft", "--config=c.yaml", "--input=x", "--output=o", "stray");
    assertEquals(2, word.code());
    assertTrue(word.err().contains("unexpected argument 'stray'"), word.err());
  }

  @Test
  void sftCommand_exitsWithTwoAndPrintsTheFieldOnAConfigError(@TempDir Path dir) throws Exception {
    Path cfg = dir.resolve("c.yaml");
    Files.writeString(cfg, GOOD.replace("api_key_env: KEY_A, ", "").replace("aggregator: agg", "aggregator: nobody"));
    Path in = dir.resolve("in.jsonl");
    Files.writeString(in, "{\"prompt\":\"hi\"}\n");
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = sft(new String[] {"--config=" + cfg, "--input=" + in, "--output=" + dir.resolve("out")},
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
    assertEquals(2, code);
    String msg = err.toString(StandardCharsets.UTF_8);
    assertTrue(msg.contains("sft.aggregator") && msg.contains("nobody"), msg);
    assertFalse(Files.exists(dir.resolve("out")), "nothing is written before the config is valid");
  }

  @Test
  void sftCommand_refusesAnInputThatMatchesNothingAndAnOccupiedOutput(@TempDir Path dir) throws Exception {
    Path cfg = dir.resolve("c.yaml");
    Files.writeString(cfg, GOOD.replace("api_key_env: KEY_A, ", ""));
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
    PrintStream o = new PrintStream(new ByteArrayOutputStream());
    assertEquals(2, sft(new String[] {"--config=" + cfg, "--input=" + dir + "/none*.jsonl", "--output=" + dir.resolve("o")}, o, e));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("matches no file"));
    Files.writeString(dir.resolve("in.jsonl"), "{\"prompt\":\"hi\"}\n");
    Files.createDirectories(dir.resolve("o/sft"));
    assertEquals(2, sft(new String[] {"--config=" + cfg, "--input=" + dir.resolve("in.jsonl"), "--output=" + dir.resolve("o")}, o, e));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--overwrite=true"));
    assertEquals(2, sft(new String[] {"--config=" + cfg, "--input=" + dir.resolve("in.jsonl"), "--output=" + dir.resolve("o"), "--unknownFlag=1"}, o, e));
  }

}
