package dev.moaa.runners.sim;

import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * Runs a {@link SimulatedEndpoint} from the command line until the process is stopped.
 *
 * <p>Flags, all in {@code --name=value} form but {@code --ignore-n} and {@code --help} (defaults
 * shown):
 *
 * <pre>
 * --port=8089 --latency-ms=200 --latency=fixed --jitter-ms=0 --max-in-flight=32 --retry-after-ms=50
 * --queue-slots=0 --rate-429=0 --rate-5xx=0 --rate-timeout=0 --rate-malformed=0 --rate-empty=0
 * --rate-no-usage=0 --timeout-delay-ms=30000 --seed=0 --words=40 --models=a,b --ignore-n
 * --reasoning-models=a,b --think-inline-models=a,b --require-key-env=VARNAME
 * --judge-noise=0 --judge-bias=0 --judge=MODEL:NOISE:BIAS (repeatable) --help
 * </pre>
 *
 * <p>With {@code --queue-slots=S} (S above 0) each model processes at most S requests at once and
 * queues the others, first in first out, instead of answering 429; {@code --max-in-flight} is then
 * not applied. {@code --ignore-n} (also {@code --ignore-n=true|false}) answers one choice whatever
 * {@code n} asks for.
 *
 * <p>{@code --judge-noise} and {@code --judge-bias} set how every simulated judge errs; {@code
 * --judge=MODEL:NOISE:BIAS} overrides both for one model (the model name may itself contain
 * colons: the last two fields are the numbers).
 *
 * <p>{@code --require-key-env} names an environment variable holding the API key clients must
 * send; the key itself is never given on the command line. Exit codes: 0 after a normal stop or
 * {@code --help}, 1 when the endpoint cannot start, 2 for a usage error.
 */
public final class SimulatedEndpointMain {

  /** Exit code of a usage error. */
  public static final int USAGE_ERROR = 2;

  static final String USAGE = String.join(System.lineSeparator(),
      "usage: moaa simulate [--name=value ...]",
      "Runs a SIMULATED OpenAI-compatible endpoint (no real model) on 127.0.0.1.",
      "  --port=8089              port to listen on (0 = any free port)",
      "  --latency-ms=200         fixed latency of every answer",
      "  --latency=fixed          fixed, or longtail: log-normal, median --latency-ms, p99 10x, cut at 30x",
      "  --jitter-ms=0            extra latency of up to this many ms (deterministic)",
      "  --max-in-flight=32       requests per model in progress at once before 429 (0 = no cap)",
      "  --queue-slots=0          queue instead of 429: per model S requests processed at once,",
      "                           the rest wait first in first out (answer = time queued +",
      "                           latency); --max-in-flight is then not applied (0 = no queue)",
      "  --retry-after-ms=50      value of the retry-after-ms header of a 429",
      "  --rate-429=0             share of attempts answered 429 at once, whatever the load",
      "  --rate-5xx=0             share of attempts answered 500/502/503",
      "  --rate-timeout=0         share of attempts that stall --timeout-delay-ms",
      "  --rate-malformed=0       share of attempts answered with a cut-off JSON body",
      "  --rate-empty=0           share of attempts answered with empty content",
      "                           (the 429/5xx/timeout/malformed/empty rates add up to at most 1)",
      "  --rate-no-usage=0        share of successful answers sent without a usage object",
      "  --timeout-delay-ms=30000 how long a stalled attempt waits before answering",
      "  --seed=0                 seed of the fault and jitter draws",
      "  --words=40               filler words per answer",
      "  --models=a,b             models listed by /v1/models before any request",
      "  --ignore-n               answer one choice whatever n the request asks for",
      "  --reasoning-models=a,b   models answering with message.reasoning_content and",
      "                           reasoning_tokens in usage (also any model named *reason*);",
      "                           the thinking counts against max_completion_tokens/max_tokens",
      "  --think-inline-models=a,b",
      "                           models writing their thinking in content: '<think>...</think>'",
      "                           then the answer; when the last hex digit of the answer's",
      "                           signature is odd, '...</think>' without the opening tag",
      "  --judge-noise=0          chance a simulated judge prefers the worse answer",
      "  --judge-bias=0           chance a simulated judge answers A whatever the answers",
      "  --judge=MODEL:NOISE:BIAS noise and bias of one judge model (repeatable)",
      "  --require-key-env=NAME   require 'Authorization: Bearer <key>', key read from $NAME",
      "  --help                   print this text");

  private SimulatedEndpointMain() {}

  /** Starts the endpoint and blocks until the process is stopped. */
  public static void main(String[] args) {
    int code = run(args, System.out, System.err);
    if (code != 0) {
      System.exit(code);
    }
  }

  /** As {@link #run(String[], PrintStream, PrintStream)} with errors on standard error. */
  public static int run(String[] args, PrintStream out) {
    return run(args, out, System.err);
  }

  /**
   * Parses the flags, starts the endpoint, prints its one-line banner to {@code out} and blocks
   * until the endpoint is closed (a shutdown hook closes it when the process is stopped).
   *
   * @return the exit code: 0, 1 when the endpoint cannot start, {@value #USAGE_ERROR} for a
   *     usage error (the message goes to {@code err})
   */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    return run(args, out, err, System::getenv, endpoint -> {});
  }

  /** The testable core of {@link #run(String[], PrintStream, PrintStream)}. */
  static int run(
      String[] args,
      PrintStream out,
      PrintStream err,
      Function<String, String> environment,
      Consumer<SimulatedEndpoint> onStarted) {
    if (Arrays.asList(args).contains("--help")) {
      out.println(USAGE);
      return 0;
    }
    SimulatedEndpoint.Settings settings;
    try {
      settings = parse(args, environment);
    } catch (IllegalArgumentException e) {
      err.println("moaa simulate: " + e.getMessage());
      err.println(USAGE);
      return USAGE_ERROR;
    }
    SimulatedEndpoint endpoint;
    try {
      endpoint = SimulatedEndpoint.start(settings);
    } catch (UncheckedIOException e) {
      err.println("moaa simulate: " + e.getMessage() + ": " + e.getCause().getMessage());
      return 1;
    }
    Thread hook = new Thread(endpoint::close, "moaa-sim-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    out.println(banner(endpoint));
    out.flush();
    onStarted.accept(endpoint);
    try {
      endpoint.awaitClosed();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      endpoint.close();
    }
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException shuttingDown) {
      // the hook is running or has run: nothing to remove
    }
    return 0;
  }

  /** The line printed when the endpoint is up. */
  static String banner(SimulatedEndpoint endpoint) {
    return "MoAA SIMULATED OpenAI-compatible endpoint (no real model) listening on "
        + endpoint.baseUrl();
  }

  /**
   * Reads the flags into settings, starting from the command-line defaults (port 8089, 200 ms
   * latency, 32 requests in flight per model).
   *
   * @param environment looks up environment variables, for {@code --require-key-env}
   * @throws IllegalArgumentException for an unknown flag, a flag without a value, a value that is
   *     not a number or out of range, or a key variable that is unset or blank
   */
  public static SimulatedEndpoint.Settings parse(
      String[] args, Function<String, String> environment) {
    Objects.requireNonNull(environment, "environment");
    SimulatedEndpoint.Settings.Builder b = SimulatedEndpoint.Settings.builder()
        .port(8089)
        .latencyMs(200)
        .maxInFlightPerModel(32);
    for (String arg : args) {
      if (arg.equals("--ignore-n")) {
        b.ignoreN(true);
        continue;
      }
      int eq = arg.indexOf('=');
      if (!arg.startsWith("--") || eq < 0) {
        throw new IllegalArgumentException(
            "unknown or incomplete argument '" + arg + "' (flags look like --name=value)");
      }
      String name = arg.substring(2, eq);
      String value = arg.substring(eq + 1).trim();
      switch (name) {
        case "port" -> b.port(intValue(name, value));
        case "latency-ms" -> b.latencyMs(longValue(name, value));
        case "latency" -> b.latencyShape(LatencyShape.parse(value));
        case "jitter-ms" -> b.latencyJitterMs(longValue(name, value));
        case "max-in-flight" -> b.maxInFlightPerModel(intValue(name, value));
        case "retry-after-ms" -> b.retryAfterMs(longValue(name, value));
        case "rate-5xx" -> b.rate5xx(doubleValue(name, value));
        case "rate-timeout" -> b.rateTimeout(doubleValue(name, value));
        case "rate-malformed" -> b.rateMalformed(doubleValue(name, value));
        case "rate-empty" -> b.rateEmpty(doubleValue(name, value));
        case "timeout-delay-ms" -> b.timeoutDelayMs(longValue(name, value));
        case "seed" -> b.seed(longValue(name, value));
        case "words" -> b.wordsPerAnswer(intValue(name, value));
        case "queue-slots" -> b.queueSlots(intValue(name, value));
        case "rate-429" -> b.rate429(doubleValue(name, value));
        case "rate-no-usage" -> b.rateNoUsage(doubleValue(name, value));
        case "ignore-n" -> b.ignoreN(booleanValue(name, value));
        case "models" -> b.models(names(value));
        case "reasoning-models" -> b.reasoningModels(names(value));
        case "think-inline-models" -> b.thinkInlineModels(names(value));
        case "judge-noise" -> b.judgeNoise(doubleValue(name, value));
        case "judge-bias" -> b.judgePositionBias(doubleValue(name, value));
        case "judge" -> judge(b, value);
        case "require-key-env" -> {
          if (value.isEmpty()) {
            throw new IllegalArgumentException("--require-key-env needs a variable name");
          }
          String key = environment.apply(value);
          if (key == null || key.isBlank()) {
            throw new IllegalArgumentException(
                "--require-key-env: environment variable " + value + " is unset or blank");
          }
          b.requiredApiKey(key.trim());
        }
        default -> throw new IllegalArgumentException("unknown flag --" + name);
      }
    }
    return b.build();
  }

  /** Reads {@code MODEL:NOISE:BIAS}, splitting at the last two colons. */
  private static void judge(SimulatedEndpoint.Settings.Builder b, String value) {
    int biasColon = value.lastIndexOf(':');
    int noiseColon = biasColon <= 0 ? -1 : value.lastIndexOf(':', biasColon - 1);
    if (noiseColon <= 0) {
      throw new IllegalArgumentException(
          "--judge needs MODEL:NOISE:BIAS, got '" + value + "'");
    }
    String model = value.substring(0, noiseColon).trim();
    if (model.isEmpty()) {
      throw new IllegalArgumentException("--judge needs a model name, got '" + value + "'");
    }
    b.judge(model,
        doubleValue("judge", value.substring(noiseColon + 1, biasColon).trim()),
        doubleValue("judge", value.substring(biasColon + 1).trim()));
  }

  private static List<String> names(String value) {
    return value.isEmpty()
        ? List.of()
        : Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  private static boolean booleanValue(String name, String value) {
    return switch (value.toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException(
          "--" + name + " needs true or false, got '" + value + "'");
    };
  }

  private static int intValue(String name, String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " needs a whole number, got '" + value + "'");
    }
  }

  private static long longValue(String name, String value) {
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " needs a whole number, got '" + value + "'");
    }
  }

  private static double doubleValue(String name, String value) {
    try {
      return Double.parseDouble(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " needs a number, got '" + value + "'");
    }
  }
}
