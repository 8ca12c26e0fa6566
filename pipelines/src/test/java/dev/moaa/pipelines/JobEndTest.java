package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.metrics.MetricResults;
import org.joda.time.Duration;
import org.junit.jupiter.api.Test;

/** How a run waits for a detached job, and where it finds why a Flink job failed. */
class JobEndTest {

  /** A result whose states come from a list, as a detached job's would over time; null = the query fails. */
  private static final class ScriptedResult implements PipelineResult {
    final Deque<State> states;
    int queries;
    boolean waited;

    ScriptedResult(List<State> states) {
      this.states = new LinkedList<>(states);
    }

    @Override
    public State getState() {
      queries++;
      State s = states.size() > 1 ? states.poll() : states.peek();
      if (s == null) {
        throw new RuntimeException("Fail to get flink job state");
      }
      return s;
    }

    @Override
    public State cancel() {
      return State.CANCELLED;
    }

    @Override
    public State waitUntilFinish(Duration duration) {
      return waitUntilFinish();
    }

    @Override
    public State waitUntilFinish() {
      waited = true;
      return State.DONE;
    }

    @Override
    public MetricResults metrics() {
      throw new UnsupportedOperationException();
    }
  }

  @Test
  void onAClusterRunner_theStateIsPolledUntilItIsTerminal_throughPassingQueryFailures() {
    ScriptedResult r = new ScriptedResult(java.util.Arrays.asList(PipelineResult.State.RUNNING, null,
        PipelineResult.State.RUNNING, null, PipelineResult.State.FAILED));
    assertEquals(PipelineResult.State.FAILED, JobEnd.await(r, false, 1));
    assertEquals(5, r.queries);
    assertEquals(false, r.waited);
  }

  @Test
  void aJobManagerThatStopsAnswering_endsTheWait_andTheDirectRunnerWaitsItsOwnWay() {
    ScriptedResult gone = new ScriptedResult(java.util.Arrays.asList(PipelineResult.State.RUNNING, (PipelineResult.State) null));
    assertThrows(RuntimeException.class, () -> JobEnd.await(gone, false, 1));
    assertEquals(1 + JobEnd.MAX_QUERY_FAILURES, gone.queries);

    ScriptedResult direct = new ScriptedResult(List.of(PipelineResult.State.RUNNING));
    assertEquals(PipelineResult.State.DONE, JobEnd.await(direct, true));
    assertEquals(true, direct.waited);
  }

  @Test
  void onlyAHostAndPortNameAClusterToAsk() {
    assertEquals(Optional.of("127.0.0.1:8081"), JobEnd.flinkRestAddress(" 127.0.0.1:8081/ "));
    assertEquals(Optional.of("flink-jobmanager:8081"), JobEnd.flinkRestAddress("flink-jobmanager:8081"));
    for (String notACluster : new String[] {null, "[local]", "[auto]", "http://host:8081", "host:", "host"}) {
      assertEquals(Optional.empty(), JobEnd.flinkRestAddress(notACluster), String.valueOf(notACluster));
    }
  }

  @Test
  void aFailedFlinkJob_isExplainedByTheFirstLineOfItsRootException() throws IOException {
    Map<String, String> answers = Map.of(
        "/jobs/overview", "{\"jobs\":[{\"jid\":\"old\",\"name\":\"moaa-run\",\"start-time\":1,\"state\":\"FAILED\"},"
            + "{\"jid\":\"new\",\"name\":\"moaa-run\",\"start-time\":2,\"state\":\"FAILED\"},"
            + "{\"jid\":\"other\",\"name\":\"someone-else\",\"start-time\":3,\"state\":\"FAILED\"}]}",
        "/jobs/new/exceptions", "{\"root-exception\":\"java.lang.IllegalStateException: the disk is full\\n\\tat x.y(Z.java:1)\"}");
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", exchange -> {
      String body = answers.get(exchange.getRequestURI().getPath());
      byte[] b = (body == null ? "{}" : body).getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(body == null ? 404 : 200, b.length);
      exchange.getResponseBody().write(b);
      exchange.close();
    });
    server.start();
    try {
      String master = "127.0.0.1:" + server.getAddress().getPort();
      assertEquals(Optional.of("java.lang.IllegalStateException: the disk is full"), JobEnd.flinkFailure(master, "moaa-run"));
      assertEquals(Optional.empty(), JobEnd.flinkFailure(master, "no-such-job"));
      assertEquals(Optional.empty(), JobEnd.flinkFailure("[local]", "moaa-run"));
    } finally {
      server.stop(0);
    }
  }

  @Test
  void rootCause_isTheInnermostCausedByLine_orTheFirstLine() {
    String trace = String.join("\n",
        "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy",
        "\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(X.java:1)",
        "Caused by: java.lang.RuntimeException: wrapped",
        "\tat a.b.C.d(C.java:2)",
        "Caused by: java.io.IOException: Insufficient number of network buffers: required 512, but only 511 available.",
        "\t... 3 more");
    org.junit.jupiter.api.Assertions.assertEquals(
        "java.io.IOException: Insufficient number of network buffers: required 512, but only 511 available.",
        JobEnd.rootCause(trace));
    org.junit.jupiter.api.Assertions.assertEquals("java.lang.IllegalStateException: boom",
        JobEnd.rootCause("java.lang.IllegalStateException: boom\n\tat x.Y.z(Y.java:1)"));
  }
}
