package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import org.apache.beam.sdk.PipelineResult;

/**
 * Waits for the end of a pipeline that {@code p.run()} handed back: on the DirectRunner through
 * {@link PipelineResult#waitUntilFinish()} (which also rethrows a failure); on other runners by
 * asking for the state every {@value #POLL_MS} ms. A Flink job submitted detached is watched that
 * way: Beam's own wait for it polls every few seconds, and Flink's attached client asks for the
 * result at intervals that grow to 2 s, so either learned of the end late. For a Flink job that
 * failed, {@link #flinkFailure} reads the cause from the JobManager's REST API.
 */
public final class JobEnd {
  static final long POLL_MS = 100;
  /** Consecutive failed state queries tolerated (a JobManager busy for a moment) before giving up. */
  static final int MAX_QUERY_FAILURES = 100;

  private static final ObjectMapper JSON = new ObjectMapper();

  private JobEnd() {}

  /**
   * The REST address {@code HOST:PORT} of a {@code --flinkMaster} value that names a cluster
   * (a host, a colon and a port: Beam splits the value at the colon); empty for {@code [local]}, {@code [auto]} and the like.
   */
  public static Optional<String> flinkRestAddress(String master) {
    if (master == null || !master.trim().matches("[^:/\\s]+:\\d+/?")) {
      return Optional.empty();
    }
    return Optional.of(master.trim().replaceFirst("/$", ""));
  }

  /** The terminal state of the run; a failure the runner reports as an exception is rethrown. */
  public static PipelineResult.State await(PipelineResult result, boolean direct) {
    return await(result, direct, POLL_MS);
  }

  static PipelineResult.State await(PipelineResult result, boolean direct, long pollMs) {
    if (direct) {
      return result.waitUntilFinish();
    }
    int failures = 0;
    while (true) {
      try {
        PipelineResult.State state = result.getState();
        failures = 0;
        if (state.isTerminal()) {
          return state;
        }
      } catch (RuntimeException e) {
        if (++failures >= MAX_QUERY_FAILURES) {
          throw e;
        }
      }
      try {
        Thread.sleep(pollMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the pipeline", e);
      }
    }
  }

  /** How long {@link #awaitFinalView} waits: Flink caches a job's view for {@code web.refresh-interval}, 3 s by default. */
  static final long FINAL_VIEW_MAX_MS = 15_000;

  /**
   * Waits until the REST API of the cluster {@code master} shows the job {@code jobId} in a final
   * state ({@code GET /jobs/:id}). Flink's REST handlers of a job's details and accumulators answer
   * from one cached copy of the job, refreshed at most every {@code web.refresh-interval}; read
   * just after the job's status turned final, that copy may still be the running job's, whose
   * counters lack the last calls (a streaming job's are empty until its tasks end), when anything
   * (a web UI open on the job) read it moments before. Once the details show the final state, the
   * accumulators come from the same final copy. Returns at once without an address or an id, and
   * after {@value #FINAL_VIEW_MAX_MS} ms at most.
   */
  public static void awaitFinalView(String master, String jobId) {
    Optional<String> address = flinkRestAddress(master);
    if (address.isEmpty() || jobId == null) {
      return;
    }
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    long deadline = System.nanoTime() + FINAL_VIEW_MAX_MS * 1_000_000;
    while (System.nanoTime() < deadline) {
      try {
        String state = get(http, "http://" + address.get() + "/jobs/" + jobId).path("state").asText("");
        if (state.equals("FINISHED") || state.equals("FAILED") || state.equals("CANCELED")) {
          return;
        }
      } catch (IOException | RuntimeException e) {
        // asked again below
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      try {
        Thread.sleep(POLL_MS * 2);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /**
   * How often the job {@code jobId} restarted on the cluster {@code master}: the failures in its
   * exception history ({@code GET /jobs/:id/exceptions}), each of which restarted it, or ended it
   * when the job {@code failed}; 0 when it cannot be read.
   */
  public static int flinkRestarts(String master, String jobId, boolean failed) {
    Optional<String> address = flinkRestAddress(master);
    if (address.isEmpty() || jobId == null) {
      return 0;
    }
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    try {
      JsonNode ex = get(http, "http://" + address.get() + "/jobs/" + jobId + "/exceptions");
      int failures = ex.path("exceptionHistory").path("entries").size();
      // a job that failed for good: its last failure ended it rather than restarting it
      return failed ? Math.max(0, failures - 1) : failures;
    } catch (IOException | RuntimeException e) {
      return 0;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 0;
    }
  }

  /**
   * The innermost cause of a Java stack trace as text: its last {@code Caused by:} line without the
   * prefix, or its first line when it has none. Flink wraps a task's failure in its restart
   * strategy's ("Recovery is suppressed by NoRestartBackoffTimeStrategy"), which says nothing of why.
   */
  static String rootCause(String stackTrace) {
    String cause = null;
    for (String line : stackTrace.lines().toList()) {
      String t = line.trim();
      if (t.startsWith("Caused by: ")) {
        cause = t.substring("Caused by: ".length());
      }
    }
    return cause != null ? cause : stackTrace.lines().findFirst().orElse(stackTrace).trim();
  }

  /**
   * The innermost cause ({@link #rootCause}) of the root exception of the newest Flink job named {@code jobName} on the
   * cluster whose REST API is {@code master} ({@code HOST:PORT}); empty when it cannot be read.
   */
  public static Optional<String> flinkFailure(String master, String jobName) {
    Optional<String> address = flinkRestAddress(master);
    if (address.isEmpty() || jobName == null) {
      return Optional.empty();
    }
    String base = "http://" + address.get();
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    try {
      String jid = null;
      long newest = Long.MIN_VALUE;
      for (JsonNode job : get(http, base + "/jobs/overview").path("jobs")) {
        if (jobName.equals(job.path("name").asText()) && job.path("start-time").asLong() > newest) {
          newest = job.path("start-time").asLong();
          jid = job.path("jid").asText();
        }
      }
      if (jid == null) {
        return Optional.empty();
      }
      JsonNode ex = get(http, base + "/jobs/" + jid + "/exceptions");
      String text = ex.path("root-exception").asText("");
      if (text.isBlank()) {
        text = ex.path("exceptionHistory").path("entries").path(0).path("stacktrace").asText("");
      }
      return text.isBlank() ? Optional.empty() : Optional.of(rootCause(text));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /**
   * Cancels job {@code jobId} on the cluster at {@code master} ({@code PATCH /jobs/:id?mode=cancel})
   * and waits up to {@code waitMs} for it to show CANCELED; returns the state it then shows, or why
   * it could not be told.
   */
  public static String cancel(String master, String jobId, long waitMs) {
    Optional<String> rest = flinkRestAddress(master);
    if (rest.isEmpty() || jobId == null) {
      return "no cluster or no job to cancel";
    }
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    String url = "http://" + rest.get() + "/jobs/" + jobId;
    try {
      String now = get(http, url).path("state").asText("");
      if (now.equals("CANCELED") || now.equals("FINISHED") || now.equals("FAILED")) {
        return now;
      }
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "?mode=cancel"))
          .timeout(Duration.ofSeconds(5)).method("PATCH", HttpRequest.BodyPublishers.noBody()).build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 202 && r.statusCode() != 200) {
        return "the cluster answered " + r.statusCode() + ": " + r.body();
      }
      long deadline = System.nanoTime() + Duration.ofMillis(waitMs).toNanos();
      String state = "CANCELLING";
      while (System.nanoTime() < deadline) {
        state = get(http, url).path("state").asText(state);
        if (state.equals("CANCELED") || state.equals("FINISHED") || state.equals("FAILED")) {
          return state;
        }
        Thread.sleep(100);
      }
      return state;
    } catch (IOException e) {
      return "the cluster's REST API at " + rest.get() + " did not answer: " + e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "interrupted";
    }
  }

  /** A JSON answer of a cluster's REST API; a status other than 200 is an {@link IOException}. */
  static JsonNode get(HttpClient http, String url) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(3)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException(url + " answered " + r.statusCode());
    }
    return JSON.readTree(r.body());
  }
}
