package dev.moaa.runners.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.lang.reflect.Method;
import dev.moaa.runners.launch.ObjectStorage;
import dev.moaa.runners.launch.RunnerDefaults;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;

/**
 * The one command layer of {@code moaa}: every command declares its flags with picocli's
 * annotations, and this class runs it, so that each command's {@code --help} is generated from the
 * same declarations its values are read from, and every usage error is worded the same way:
 * {@code moaa COMMAND: unknown flag --ouput (did you mean --output?)}, exit code 2.
 *
 * <p>Commands that start a pipeline ({@code sft}, {@code dpo}, {@code judge-eval}, {@code run},
 * {@code bench}) hand the flags they do not declare to Beam ({@code --runner}, {@code --flinkMaster},
 * …): those are checked against Beam's registered options when the options are built, and a name
 * that neither the command nor Beam knows is an unknown flag, with the closest name of either.
 */
public final class Cli {
  /** Exit code of a usage error (bad flag, bad value, missing flag). */
  public static final int USAGE = 2;

  private static final Pattern BEAM_MISSING = Pattern.compile("missing a property named '([^']+)'");

  private Cli() {}

  /**
   * A configured command line for {@code command} (a picocli {@code @Command} object): output to
   * {@code out}, errors to {@code err} in the product's words, no {@code @file} expansion.
   */
  public static CommandLine commandLine(Object command, PrintStream out, PrintStream err) {
    CommandLine cl = new CommandLine(command);
    configure(cl, out, err);
    return cl;
  }

  /** Applies this product's settings to {@code cl} and, recursively, to its sub-commands. */
  public static void configure(CommandLine cl, PrintStream out, PrintStream err) {
    cl.setOut(new PrintWriter(out, true));
    cl.setErr(new PrintWriter(err, true));
    cl.setExpandAtFiles(false);
    cl.setUsageHelpWidth(100);
    cl.setParameterExceptionHandler((e, args) -> {
      CommandLine failed = e.getCommandLine();
      err.println(commandName(failed) + ": " + message(e));
      err.println("  (" + commandName(failed) + " --help lists every flag)");
      return USAGE;
    });
    cl.setExecutionExceptionHandler((e, failed, parsed) -> {
      err.println(commandName(failed) + ": " + e);
      return 1;
    });
    cl.getSubcommands().values().forEach(sub -> configure(sub, out, err));
  }

  /** Runs {@code command} on {@code args}: its exit code, {@value #USAGE} for a usage error. */
  public static int execute(Object command, String[] args, PrintStream out, PrintStream err) {
    return commandLine(command, out, err).execute(args);
  }

  /** {@code moaa sft}, from the command's qualified name. */
  static String commandName(CommandLine cl) {
    if (cl == null) {
      return "moaa";
    }
    String name = cl.getCommandSpec().qualifiedName(" ");
    return name.equals("moaa") || name.startsWith("moaa ") ? name : "moaa " + name;
  }

  /** A usage error in the product's words. */
  public static String message(ParameterException e) {
    if (e instanceof CommandLine.UnmatchedArgumentException u) {
      List<String> unmatched = u.getUnmatched();
      String first = unmatched.isEmpty() ? "" : unmatched.get(0);
      CommandSpec spec = e.getCommandLine().getCommandSpec();
      if (first.startsWith("-")) {
        return unknownFlag(first, optionNames(spec));
      }
      if (!spec.subcommands().isEmpty()) {
        Optional<String> near = closest(first, spec.subcommands().keySet());
        return "unknown command '" + first + "'" + near.map(n -> " (did you mean " + n + "?)").orElse("")
            + "; commands: " + String.join(", ", new TreeSet<>(spec.subcommands().keySet()));
      }
      return "unexpected argument '" + first + "'";
    }
    if (e instanceof CommandLine.OverwrittenOptionException o && o.getOverwritten() instanceof OptionSpec spec) {
      return spec.longestName() + " given twice";
    }
    if (e instanceof CommandLine.MissingParameterException m && e.getCommandLine() != null) {
      // a misspelt flag is named before the required flag it failed to give
      Optional<String> typo = unknownAmong(e.getCommandLine());
      if (typo.isPresent()) {
        return typo.get();
      }
    }
    if (e instanceof CommandLine.MissingParameterException m) {
      List<String> names = new ArrayList<>();
      for (ArgSpec a : m.getMissing()) {
        names.add(a instanceof OptionSpec o ? o.longestName() : a.paramLabel());
      }
      boolean valueMissing = e.getMessage() != null && e.getMessage().startsWith("Missing required parameter for option");
      return valueMissing ? String.join(", ", names) + " needs a value (" + String.join(", ", names) + "=VALUE)"
          : String.join(", ", names) + (names.size() == 1 ? " is required" : " are required");
    }
    ArgSpec spec = e.getArgSpec();
    if (spec instanceof OptionSpec o && e.getValue() != null) {
      Class<?> type = o.type();
      String need = type == int.class || type == Integer.class || type == long.class || type == Long.class
          ? "a whole number" : type == double.class || type == Double.class ? "a number"
          : type == boolean.class || type == Boolean.class ? "true or false" : null;
      if (need != null) {
        return o.longestName() + " needs " + need + ", got '" + e.getValue() + "'";
      }
      if (e.getCause() != null && e.getCause().getMessage() != null) {
        return o.longestName() + ": " + e.getCause().getMessage();
      }
    }
    return e.getMessage();
  }

  /**
   * The first flag of a command's pass-through arguments that neither the command nor Beam knows,
   * worded as an unknown flag; empty when there is none.
   */
  private static Optional<String> unknownAmong(CommandLine cl) {
    List<String> unmatched = cl.getUnmatchedArguments();
    if (unmatched.isEmpty()) {
      return Optional.empty();
    }
    List<String> own = optionNames(cl.getCommandSpec());
    List<String> beam = beamFlagNames();
    for (String a : unmatched) {
      String name = flagName(a);
      if (a.startsWith("--") && !own.contains(name) && !beam.contains(name)) {
        List<String> valid = new ArrayList<>(own);
        valid.addAll(beam);
        return Optional.of(unknownFlag(a, valid));
      }
    }
    return Optional.empty();
  }

  /** {@code unknown flag --ouput (did you mean --output?)}. */
  public static String unknownFlag(String arg, Collection<String> valid) {
    String name = flagName(arg);
    Optional<String> near = closest(name, valid);
    return "unknown flag " + name + near.map(n -> " (did you mean " + n + "?)").orElse("");
  }

  /** {@code --name} of {@code --name=value}. */
  public static String flagName(String arg) {
    int eq = arg.indexOf('=');
    return eq < 0 ? arg : arg.substring(0, eq);
  }

  /** Every long name of the command's options ({@code --config}, …). */
  public static List<String> optionNames(CommandSpec spec) {
    List<String> names = new ArrayList<>();
    for (OptionSpec o : spec.options()) {
      for (String n : o.names()) {
        if (n.startsWith("--")) {
          names.add(n);
        }
      }
    }
    return names;
  }

  /**
   * The valid name nearest to {@code name} (edit distance, case ignored), when it is near enough to
   * be a typo: at most a third of the name's letters apart, or one that starts with the other.
   */
  public static Optional<String> closest(String name, Collection<String> valid) {
    String n = strip(name);
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String v : new TreeSet<>(valid)) {
      String s = strip(v);
      int d = distance(n, s);
      if (d < bestDistance) {
        best = v;
        bestDistance = d;
      }
    }
    if (best == null) {
      return Optional.empty();
    }
    String b = strip(best);
    boolean prefix = n.length() >= 3 && (b.startsWith(n) || n.startsWith(b));
    return bestDistance <= Math.max(2, n.length() / 3) || prefix ? Optional.of(best) : Optional.empty();
  }

  private static String strip(String flag) {
    return flag.replaceFirst("^-+", "").toLowerCase(Locale.ROOT);
  }

  /** Levenshtein distance. */
  static int distance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  /**
   * The usage error for flags handed to Beam that Beam refused ({@code e} from its options
   * factory): an unknown name is worded as this layer words its own, with the closest of the
   * command's and Beam's names; any other refusal (a value Beam cannot read) keeps Beam's reason.
   */
  public static ParameterException beamRefused(CommandSpec spec, List<String> passed, IllegalArgumentException e) {
    String msg = e.getMessage() == null ? e.toString() : e.getMessage();
    Matcher m = BEAM_MISSING.matcher(msg);
    if (m.find()) {
      String name = "--" + m.group(1);
      List<String> valid = new ArrayList<>(optionNames(spec));
      valid.addAll(beamFlagNames());
      return new ParameterException(spec.commandLine(), unknownFlag(name, valid));
    }
    return new ParameterException(spec.commandLine(), withoutSecrets(passed, "a Beam flag was refused ("
        + String.join(" ", passed) + "): " + msg.replaceAll("\\s+", " ").trim()));
  }

  /**
   * Beam's options from the flags a command passed through, checked before anything else is read
   * (a misspelt flag is named first); the runner defaults are set once the config is read ({@link
   * RunnerDefaults#apply}).
   */
  public static PipelineOptions beamOptions(CommandSpec spec, List<String> passed) {
    checkPassThrough(spec, passed);
    try {
      ObjectStorage.refuseKeysInFlags(passed);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    try {
      return RunnerDefaults.parse(passed);
    } catch (IllegalArgumentException e) {
      throw beamRefused(spec, passed, e);
    }
  }

  /**
   * The flags as they may be printed: the value of a flag that can hold a secret
   * ({@link ObjectStorage#SECRET_FLAGS}) is masked, and so is any occurrence of it in {@code text}.
   */
  static String withoutSecrets(List<String> passed, String text) {
    List<String> secrets = new ArrayList<>();
    for (String f : passed) {
      int eq = f.indexOf('=');
      if (f.startsWith("--") && eq > 2 && ObjectStorage.SECRET_FLAGS.contains(f.substring(2, eq))) {
        secrets.add(f.substring(eq + 1));
      }
    }
    return dev.moaa.transforms.client.Redactor.of(secrets).apply(text);
  }

  /** Checks that the pass-through arguments are flags; a bare word is an unexpected argument. */
  public static void checkPassThrough(CommandSpec spec, List<String> passed) {
    for (String a : passed) {
      if (!a.startsWith("--") || a.length() == 2) {
        throw new ParameterException(spec.commandLine(), "unexpected argument '" + a + "'");
      }
    }
  }

  /** Every flag name of Beam's registered options ({@code --runner}, {@code --flinkMaster}, …). */
  static List<String> beamFlagNames() {
    TreeSet<String> names = new TreeSet<>();
    for (Class<? extends PipelineOptions> options : PipelineOptionsFactory.getRegisteredOptions()) {
      for (Method m : options.getMethods()) {
        String n = m.getName();
        int prefix = n.startsWith("get") ? 3 : n.startsWith("is") ? 2 : 0;
        if (prefix > 0 && n.length() > prefix && m.getParameterCount() == 0
            && PipelineOptions.class.isAssignableFrom(m.getDeclaringClass())) {
          names.add("--" + Character.toLowerCase(n.charAt(prefix)) + n.substring(prefix + 1));
        }
      }
    }
    return new ArrayList<>(names);
  }
}
