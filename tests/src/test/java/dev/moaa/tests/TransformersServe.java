package dev.moaa.tests;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real third-party OpenAI-compatible server for the tests: {@code transformers serve} (from the
 * transformers package in the project's .venv) on 127.0.0.1, serving tiny random-weight chat models
 * that {@code tests/realserver/tiny_models.py} builds into {@code tests/target/tiny-models} (once;
 * again only when the script is newer than the models).
 *
 * <p>A request names a model by its folder, {@link #modelPath(String)}: {@code plain} (a ChatML chat
 * model, sampled text), {@code inline-think} ({@code <think>}/{@code </think>} are ordinary tokens it
 * emits often; they stay inline in {@code message.content}) and {@code reasoning} (a Qwen3-style model
 * whose template opens {@code <think>}; the server answers {@code reasoning_content}). The server echoes
 * the model as {@code <path>@main} in the response's {@code model} field.
 *
 * <p>Starting costs about 5 to 10 seconds on 2 cores (Python imports), so the tests share one per JVM:
 * {@link #shared()}; a JVM shutdown hook stops it, and its {@link #close()} does nothing. {@link
 * #start()} gives a private one that {@link #close()} stops (the process and all its descendants).
 *
 * <p>The server runs on the CPU ({@code --device cpu}, one thread), offline ({@code HF_HUB_OFFLINE=1},
 * its own {@code HF_HOME} under tests/target), so a request's {@code seed} makes its answer the same on
 * every machine, as long as no other request runs on the server at the same time (the seed is torch's
 * global one).
 */
final class TransformersServe implements AutoCloseable {
  static final String PLAIN = "plain";
  static final String INLINE_THINK = "inline-think";
  static final String REASONING = "reasoning";
  static final List<String> MODELS = List.of(PLAIN, INLINE_THINK, REASONING);

  private static final Duration START_TIMEOUT = Duration.ofSeconds(180);
  private static final Duration BUILD_TIMEOUT = Duration.ofMinutes(3);

  private static TransformersServe shared;

  private final Process process;
  private final Path log;
  private final Path models;
  private final int port;
  private final boolean isShared;
  private volatile Duration startup = Duration.ZERO;
  private volatile boolean closed;

  private TransformersServe(Process process, Path log, Path models, int port, boolean isShared) {
    this.process = process;
    this.log = log;
    this.models = models;
    this.port = port;
    this.isShared = isShared;
  }

  /** The server shared by every test of this JVM, started on first use, stopped when the JVM exits. */
  static synchronized TransformersServe shared() {
    if (shared == null || !shared.process.isAlive()) {
      TransformersServe s = launch(true);
      Runtime.getRuntime().addShutdownHook(new Thread(s::stop, "transformers-serve-stop"));
      shared = s;
    }
    return shared;
  }

  /** A server of its own, which {@link #close()} stops. */
  static TransformersServe start() {
    return launch(false);
  }

  /** The base URL of the OpenAI-compatible API, ending in {@code /v1}. */
  String baseUrl() {
    return "http://127.0.0.1:" + port + "/v1";
  }

  int port() {
    return port;
  }

  /** The {@code model} to send for one of {@link #MODELS}: the absolute path of its folder. */
  String modelPath(String name) {
    if (!MODELS.contains(name)) {
      throw new IllegalArgumentException("no tiny model " + name + "; there are " + MODELS);
    }
    return models.resolve(name).toString();
  }

  /** The server's combined stdout and stderr (uvicorn's access log, transformers' warnings). */
  Path log() {
    return log;
  }

  /** How long the start took, from launching the process to the first healthy answer. */
  Duration startup() {
    return startup;
  }

  /** The last {@code lines} lines of the server's log. */
  String logTail(int lines) {
    return tail(log, lines);
  }

  @Override
  public void close() {
    if (!isShared) {
      stop();
    }
  }

  private synchronized void stop() {
    if (closed) {
      return;
    }
    closed = true;
    List<ProcessHandle> tree = new ArrayList<>(process.descendants().toList());
    process.destroy(); // SIGTERM: uvicorn shuts down cleanly
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    for (ProcessHandle h : tree) {
      if (h.isAlive()) {
        h.destroyForcibly();
      }
    }
  }

  // ---- start ----

  private static TransformersServe launch(boolean isShared) {
    Path repo = repoRoot();
    Path target = repo.resolve("tests/target");
    Path python = python(repo);
    Path models = tinyModels(python, repo, target);
    int port = freePort();
    Path log = target.resolve("transformers-serve-" + port + ".log");
    Path hfHome = target.resolve("hf-home");
    ProcessBuilder pb = new ProcessBuilder(python.toString(), "-m", "transformers.cli.transformers", "serve",
        "--host", "127.0.0.1", "--port", Integer.toString(port), "--device", "cpu",
        "--model-timeout", "86400", "--log-level", "warning")
        .directory(target.toFile())
        .redirectErrorStream(true)
        .redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.put("HF_HUB_OFFLINE", "1");
    env.put("TRANSFORMERS_OFFLINE", "1");
    env.put("HF_HUB_DISABLE_UPDATE_CHECK", "1"); // the CLI would ask PyPI for a newer version
    env.put("HF_HUB_DISABLE_TELEMETRY", "1");
    env.put("HF_HOME", hfHome.toString());
    env.put("CUDA_VISIBLE_DEVICES", "");
    env.put("TOKENIZERS_PARALLELISM", "false");
    env.put("OMP_NUM_THREADS", "1");
    env.put("PYTHONUNBUFFERED", "1");
    long t0 = System.nanoTime();
    Process p;
    try {
      Files.createDirectories(hfHome);
      p = pb.start();
    } catch (IOException e) {
      throw new UncheckedIOException("could not start transformers serve with " + python, e);
    }
    TransformersServe s = new TransformersServe(p, log, models, port, isShared);
    try {
      awaitHealthy(p, port, log);
    } catch (RuntimeException | Error e) {
      s.stop();
      throw e;
    }
    s.startup = Duration.ofNanos(System.nanoTime() - t0);
    return s;
  }

  private static void awaitHealthy(Process p, int port, Path log) {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    HttpRequest health = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health"))
        .timeout(Duration.ofSeconds(5)).GET().build();
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        throw new AssertionError("transformers serve exited with " + p.exitValue() + " before answering; "
            + log + " ends with:\n" + tail(log, 40));
      }
      try {
        if (http.send(health, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for transformers serve", e);
      }
      sleep(200);
    }
    throw new AssertionError("transformers serve did not answer GET /health on 127.0.0.1:" + port + " within "
        + START_TIMEOUT.toSeconds() + " s; " + log + " ends with:\n" + tail(log, 40));
  }

  /** The project's root: the folder holding tests/realserver (the tests run in the tests module). */
  static Path repoRoot() {
    Path cwd = Paths.get("").toAbsolutePath();
    for (Path p = cwd; p != null; p = p.getParent()) {
      if (Files.exists(p.resolve("tests/realserver/tiny_models.py"))) {
        return p;
      }
    }
    throw new AssertionError("no tests/realserver/tiny_models.py in " + cwd + " or above it");
  }

  /** {@code $MOAA_PYTHON}, else the project's {@code .venv/bin/python}. */
  static Path python(Path repo) {
    String env = System.getenv("MOAA_PYTHON");
    Path python = env != null && !env.isBlank() ? Paths.get(env) : repo.resolve(".venv/bin/python");
    if (!Files.isExecutable(python)) {
      throw new AssertionError("transformers serve runs from the project's Python environment, and " + python
          + " is missing. ./run-tests creates it; by hand: python3 -m venv .venv && .venv/bin/pip install"
          + " -r tests/python/requirements.txt -r runners/training/requirements.txt (or set MOAA_PYTHON)");
    }
    return python;
  }

  /** Builds the tiny models into tests/target/tiny-models unless they are there and newer than the script. */
  static synchronized Path tinyModels(Path python, Path repo, Path target) {
    Path script = repo.resolve("tests/realserver/tiny_models.py");
    Path dir = target.resolve("tiny-models");
    Path marker = dir.resolve("BUILT");
    try {
      if (Files.exists(marker)
          && Files.getLastModifiedTime(marker).compareTo(Files.getLastModifiedTime(script)) >= 0) {
        return dir;
      }
      Files.createDirectories(target);
      Path tmp = Files.createTempDirectory(target, "tiny-models-");
      Path buildLog = target.resolve("tiny-models.log");
      ProcessBuilder pb = new ProcessBuilder(python.toString(), script.toString(), tmp.toString())
          .redirectErrorStream(true).redirectOutput(buildLog.toFile());
      pb.environment().put("CUDA_VISIBLE_DEVICES", "");
      pb.environment().put("TOKENIZERS_PARALLELISM", "false");
      pb.environment().put("HF_HUB_OFFLINE", "1");
      Process p = pb.start();
      if (!p.waitFor(BUILD_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError("building the tiny models took over " + BUILD_TIMEOUT.toSeconds() + " s:\n"
            + tail(buildLog, 40));
      }
      if (p.exitValue() != 0) {
        throw new AssertionError("building the tiny models failed (" + p.exitValue() + "):\n" + tail(buildLog, 40));
      }
      deleteRecursively(dir);
      Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while building the tiny models", e);
    }
  }

  static int freePort() {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String tail(Path file, int lines) {
    try {
      if (!Files.exists(file)) {
        return "(no " + file + ")";
      }
      List<String> all = List.of(new String(Files.readAllBytes(file), StandardCharsets.UTF_8).split("\n"));
      return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    } catch (IOException | UncheckedIOException e) {
      return "(could not read " + file + ": " + e + ")";
    }
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted", e);
    }
  }
}
