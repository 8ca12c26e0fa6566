package dev.moaa.runners.loop;

import dev.moaa.pipelines.CommandTemplate;
import dev.moaa.pipelines.ServeSettings;
import dev.moaa.runners.training.ChildProcess;
import dev.moaa.runners.training.LogFile;
import dev.moaa.transforms.client.Redactor;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The SFT checkpoint served behind an OpenAI-compatible endpoint for the DPO data step: the
 * configured serve command as a child process, ready once {@code GET http://127.0.0.1:PORT/v1/models}
 * answers 200. Its output goes to a log file (the last lines are printed if it fails). Closing it
 * stops the whole process tree, also when the step failed.
 */
final class PolicyServer implements AutoCloseable {
  private static final int TAIL_LINES = 40;
  private static final Duration POLL = Duration.ofMillis(250);

  private final ServeSettings settings;
  private final ChildProcess child;
  private final LogFile log;
  private final PrintStream out;
  private final String apiKey;

  private PolicyServer(ServeSettings settings, ChildProcess child, LogFile log, PrintStream out, String apiKey) {
    this.settings = settings;
    this.child = child;
    this.log = log;
    this.out = out;
    this.apiKey = apiKey;
  }

  /** The serve command's argument vector for {@code checkpoint}. */
  static List<String> argv(ServeSettings s, String checkpoint) {
    return s.command().render(Map.of("checkpoint", checkpoint, "port", String.valueOf(s.port()),
        "model", s.modelFor(checkpoint)), Map.of());
  }

  /** Starts the server; fails at once when its port is taken (requests would reach someone else's server). */
  static PolicyServer start(ServeSettings s, String checkpoint, Redactor redactor, Path logPath, PrintStream out)
      throws StepFailure {
    if (!portFree(s.port())) {
      throw new StepFailure("port " + s.port() + " on 127.0.0.1 is already in use; stop what listens there or"
          + " change serve.port");
    }
    List<String> argv = argv(s, checkpoint);
    out.println("moaa run: serve: " + redactor.apply(CommandTemplate.display(argv)) + "   (log: " + logPath + ")");
    LogFile log = LogFile.open(logPath);
    try {
      ChildProcess child = ChildProcess.start("moaa-serve", argv, Map.of("PYTHONUNBUFFERED", "1"), null, redactor,
          TAIL_LINES, (raw, line) -> log.write(line));
      String key = s.apiKeyEnv() == null ? null : System.getenv(s.apiKeyEnv());
      return new PolicyServer(s, child, log, out, key);
    } catch (IOException e) {
      log.close();
      throw new StepFailure("cannot start the serve command " + redactor.apply(argv.get(0)) + ": " + e.getMessage());
    }
  }

  /** Waits until the endpoint lists its models, the process exits, or {@code ready_timeout_s} passes. */
  double awaitReady() throws StepFailure {
    long start = System.nanoTime();
    long deadline = start + Duration.ofSeconds(settings.readyTimeoutS()).toNanos();
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(settings.baseUrl() + "/models"))
        .timeout(Duration.ofSeconds(5)).GET();
    if (apiKey != null) {
      rb.header("Authorization", "Bearer " + apiKey);
    }
    HttpRequest request = rb.build();
    while (true) {
      if (!child.isAlive()) {
        failWithTail("the serve command exited with code " + child.exitCode() + " before it was ready");
      }
      try {
        HttpResponse<Void> r = http.send(request, HttpResponse.BodyHandlers.discarding());
        if (r.statusCode() == 200) {
          double secs = (System.nanoTime() - start) / 1e9;
          out.printf(Locale.ROOT, "moaa run: serve: ready after %.1f s at %s (pid %d)%n", secs, settings.baseUrl(),
              child.pid());
          return secs;
        }
      } catch (IOException e) {
        // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new StepFailure("interrupted while waiting for the server");
      }
      if (System.nanoTime() > deadline) {
        failWithTail("GET " + settings.baseUrl() + "/models did not answer 200 within " + settings.readyTimeoutS()
            + " s (serve.ready_timeout_s)");
      }
      try {
        Thread.sleep(POLL.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new StepFailure("interrupted while waiting for the server");
      }
    }
  }

  private void failWithTail(String why) throws StepFailure {
    List<String> tail = child.tail();
    StringBuilder b = new StringBuilder(why).append("; its last ").append(tail.size()).append(" lines:");
    tail.forEach(l -> b.append("\n  | ").append(l));
    throw new StepFailure(b.toString());
  }

  /** Stops the server's process tree (SIGTERM, SIGKILL after {@code stop_timeout_s}) and waits for it. */
  @Override
  public void close() {
    long start = System.nanoTime();
    child.stop(Duration.ofSeconds(settings.stopTimeoutS()));
    log.close();
    out.printf(Locale.ROOT, "moaa run: serve: stopped in %.1f s (port %d %s)%n", (System.nanoTime() - start) / 1e9,
        settings.port(), portFree(settings.port()) ? "closed" : "STILL IN USE");
  }

  /** True when nothing listens on 127.0.0.1:port and it can be bound. */
  static boolean portFree(int port) {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
      return false;
    } catch (IOException e) {
      // nothing accepts connections there
    }
    try (ServerSocket ss = new ServerSocket()) {
      ss.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
