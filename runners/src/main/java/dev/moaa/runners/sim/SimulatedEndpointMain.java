package dev.moaa.runners.sim;

import dev.moaa.runners.cli.Cli;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Runs a {@link SimulatedEndpoint} from the command line until the process is stopped.
 *
 * <p>Its flags are declared below (picocli); {@code moaa simulate --help} lists them with their
 * defaults.
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
@Command(name = "simulate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Runs a SIMULATED OpenAI-compatible endpoint (no real model) on 127.0.0.1, for tests and demos.",
        "Exit codes: 0 after a normal stop, 1 when it cannot start, 2 for a usage error."})
public final class SimulatedEndpointMain implements Callable<Integer> {

  /** Exit code of a usage error. */
  public static final int USAGE_ERROR = Cli.USAGE;

  /** The text of {@code moaa simulate --help}, generated from the declarations below. */
  static final String USAGE = new CommandLine(new SimulatedEndpointMain(null, null)).getUsageMessage();

  @Spec CommandSpec spec;

  @Option(names = "--port", defaultValue = "8089", description = "Port to listen on; 0 = any free port (default: ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--latency-ms", defaultValue = "200", description = "Fixed latency of every answer (default: ${DEFAULT-VALUE}).")
  long latencyMs;

  @Option(names = "--latency", paramLabel = "fixed|longtail", defaultValue = "fixed",
      description = "fixed, or longtail: log-normal, median --latency-ms, p99 10x, cut at 30x (default: ${DEFAULT-VALUE}).")
  String latency;

  @Option(names = "--jitter-ms", defaultValue = "0", description = "Extra latency of up to this many ms, deterministic (default: ${DEFAULT-VALUE}).")
  long jitterMs;

  @Option(names = "--max-in-flight", defaultValue = "32",
      description = "Requests per model in progress at once before 429; 0 = no cap (default: ${DEFAULT-VALUE}).")
  int maxInFlight;

  @Option(names = "--queue-slots", defaultValue = "0",
      description = "Queue instead of 429: per model S requests processed at once, the rest wait first in first out"
          + " (answer = time queued + latency); --max-in-flight is then not applied; 0 = no queue (default: ${DEFAULT-VALUE}).")
  int queueSlots;

  @Option(names = "--retry-after-ms", description = "Value of the retry-after-ms header of a 429 (default: 50).")
  Long retryAfterMs;

  @Option(names = "--rate-429", description = "Share of attempts answered 429 at once, whatever the load (default: 0).")
  Double rate429;

  @Option(names = "--rate-5xx", description = "Share of attempts answered 500/502/503 (default: 0).")
  Double rate5xx;

  @Option(names = "--rate-timeout", description = "Share of attempts that stall --timeout-delay-ms (default: 0).")
  Double rateTimeout;

  @Option(names = "--rate-malformed", description = "Share of attempts answered with a cut-off JSON body (default: 0).")
  Double rateMalformed;

  @Option(names = "--rate-empty", description = "Share of attempts answered with empty content (default: 0);"
      + " the 429/5xx/timeout/malformed/empty rates add up to at most 1.")
  Double rateEmpty;

  @Option(names = "--rate-no-usage", description = "Share of successful answers sent without a usage object (default: 0).")
  Double rateNoUsage;

  @Option(names = "--timeout-delay-ms", description = "How long a stalled attempt waits before answering (default: 30000).")
  Long timeoutDelayMs;

  @Option(names = "--seed", description = "Seed of the fault and jitter draws (default: 0).")
  Long seed;

  @Option(names = "--words", description = "Filler words per answer (default: 40).")
  Integer words;

  @Option(names = "--models", paramLabel = "a,b", description = "Models listed by /v1/models before any request.")
  String models;

  @Option(names = "--ignore-n", arity = "0..1", paramLabel = "true|false", fallbackValue = "true",
      description = "Answer one choice whatever n the request asks for.")
  boolean ignoreN;

  @Option(names = "--reasoning-models", paramLabel = "a,b",
      description = "Models answering with message.reasoning_content and reasoning_tokens in usage (also any model named"
          + " *reason*); the thinking counts against max_completion_tokens/max_tokens.")
  String reasoningModels;

  @Option(names = "--think-inline-models", paramLabel = "a,b",
      description = "Models writing their thinking in content: '<think>...</think>' then the answer; when the last hex"
          + " digit of the answer's signature is odd, '...</think>' without the opening tag.")
  String thinkInlineModels;

  @Option(names = "--judge-noise", description = "Chance a simulated judge prefers the worse answer (default: 0).")
  Double judgeNoise;

  @Option(names = "--judge-bias", description = "Chance a simulated judge answers A whatever the answers (default: 0).")
  Double judgeBias;

  @Option(names = "--judge", paramLabel = "MODEL:NOISE:BIAS", description = "Noise and bias of one judge model (repeatable).")
  List<String> judges = new ArrayList<>();

  @Option(names = "--model-skill", paramLabel = "MODEL:SKILL",
      description = "Hidden skill of one model in (0, 1), repeatable: its answers beat a skill-0.5 model's with"
          + " probability SKILL before judge noise (default: 0.5 for every model).")
  List<String> modelSkills = new ArrayList<>();

  @Option(names = "--batch-delay-ms", description = "How long a Batch API batch stays in progress (default: 1000).")
  Long batchDelayMs;

  @Option(names = "--batch-failure-rate",
      description = "Share of batch requests that fail on the first submission of their body (default: 0).")
  Double batchFailureRate;

  @Option(names = "--batch-expire-rate",
      description = "Share of batches that expire with about half of their requests unanswered (default: 0).")
  Double batchExpireRate;

  @Option(names = "--require-key-env", paramLabel = "NAME",
      description = "Require 'Authorization: Bearer <key>', the key read from the environment variable NAME.")
  String requireKeyEnv;

  private final PrintStream out;
  private final PrintStream err;
  private Function<String, String> environment = System::getenv;
  private Consumer<SimulatedEndpoint> onStarted = endpoint -> {};

  public SimulatedEndpointMain(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

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
    SimulatedEndpointMain command = new SimulatedEndpointMain(out, err);
    command.environment = environment;
    command.onStarted = onStarted;
    return Cli.execute(command, args, out, err);
  }

  @Override
  public Integer call() {
    SimulatedEndpoint.Settings settings;
    try {
      settings = settings(environment);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
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
    SimulatedEndpointMain command = new SimulatedEndpointMain(null, null);
    try {
      new CommandLine(command).parseArgs(args);
    } catch (ParameterException e) {
      throw new IllegalArgumentException(Cli.message(e), e);
    }
    return command.settings(environment);
  }

  /** The settings the parsed flags describe. */
  SimulatedEndpoint.Settings settings(Function<String, String> environment) {
    SimulatedEndpoint.Settings.Builder b = SimulatedEndpoint.Settings.builder()
        .port(port)
        .latencyMs(latencyMs)
        .maxInFlightPerModel(maxInFlight)
        .latencyShape(LatencyShape.parse(latency))
        .latencyJitterMs(jitterMs)
        .queueSlots(queueSlots)
        .ignoreN(ignoreN);
    if (retryAfterMs != null) {
      b.retryAfterMs(retryAfterMs);
    }
    if (rate429 != null) {
      b.rate429(rate429);
    }
    if (rate5xx != null) {
      b.rate5xx(rate5xx);
    }
    if (rateTimeout != null) {
      b.rateTimeout(rateTimeout);
    }
    if (rateMalformed != null) {
      b.rateMalformed(rateMalformed);
    }
    if (rateEmpty != null) {
      b.rateEmpty(rateEmpty);
    }
    if (rateNoUsage != null) {
      b.rateNoUsage(rateNoUsage);
    }
    if (timeoutDelayMs != null) {
      b.timeoutDelayMs(timeoutDelayMs);
    }
    if (seed != null) {
      b.seed(seed);
    }
    if (words != null) {
      b.wordsPerAnswer(words);
    }
    if (models != null) {
      b.models(names(models));
    }
    if (reasoningModels != null) {
      b.reasoningModels(names(reasoningModels));
    }
    if (thinkInlineModels != null) {
      b.thinkInlineModels(names(thinkInlineModels));
    }
    if (judgeNoise != null) {
      b.judgeNoise(judgeNoise);
    }
    if (judgeBias != null) {
      b.judgePositionBias(judgeBias);
    }
    for (String j : judges) {
      judge(b, j);
    }
    if (batchDelayMs != null) {
      b.batchDelayMs(batchDelayMs);
    }
    if (batchFailureRate != null) {
      b.batchFailureRate(batchFailureRate);
    }
    if (batchExpireRate != null) {
      b.batchExpireShare(batchExpireRate);
    }
    for (String m : modelSkills) {
      int colon = m.lastIndexOf(':');
      if (colon <= 0) {
        throw new IllegalArgumentException("--model-skill needs MODEL:SKILL, got '" + m + "'");
      }
      b.modelSkill(m.substring(0, colon).trim(), doubleValue("model-skill", m.substring(colon + 1).trim()));
    }
    if (requireKeyEnv != null) {
      String value = requireKeyEnv.trim();
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

  private static double doubleValue(String name, String value) {
    try {
      return Double.parseDouble(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--" + name + " needs a number, got '" + value + "'");
    }
  }
}
