package dev.moaa.runners.loop;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.pipelines.CommandTemplate;
import dev.moaa.pipelines.ServeSettings;
import dev.moaa.transforms.client.Redactor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The serve step with real child processes: the simulated endpoint as the server, and servers that never get ready. */
class PolicyServerTest {
  @TempDir Path dir;

  private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
  private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static ServeSettings serve(String command, int port, int readyTimeoutS) {
    return new ServeSettings(CommandTemplate.parse(command, ServeSettings.PLACEHOLDERS, Set.of()), port, "m",
        readyTimeoutS, 5, null);
  }

  @Test
  void theSimulatorAsServer_isReadyWhenItListsModels_andStoppingItClosesThePort() throws Exception {
    int port = freePort();
    String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    String cp = System.getProperty("java.class.path");
    ServeSettings s = serve("'" + java + "' -cp '" + cp + "' dev.moaa.runners.sim.SimulatedEndpointMain --port={port}"
        + " --latency-ms=0 --models={model}", port, 60);
    PolicyServer server = PolicyServer.start(s, "/ckpt/final", Redactor.of(List.of()), dir.resolve("serve.log"), out);
    try (server) {
      server.awaitReady();
      assertFalse(PolicyServer.portFree(port));
    }
    assertTrue(PolicyServer.portFree(port), "stopped: " + bytes);
    assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("(port " + port + " closed)"), bytes.toString());
    assertTrue(Files.readString(dir.resolve("serve.log")).contains("SIMULATED"), "the server's output is logged");
  }

  @Test
  void aServerThatExitsBeforeItIsReady_failsWithItsExitCodeAndLastLines() throws Exception {
    ServeSettings s = serve("sh -c 'echo loading {checkpoint}; echo out of GPU memory >&2; exit 4'", freePort(), 60);
    try (PolicyServer server = PolicyServer.start(s, "/ckpt/final", Redactor.of(List.of()), null, out)) {
      StepFailure f = assertThrows(StepFailure.class, server::awaitReady);
      assertTrue(f.getMessage().contains("exited with code 4 before it was ready"), f.getMessage());
      assertTrue(f.getMessage().contains("| loading /ckpt/final\n  | out of GPU memory"), f.getMessage());
    }
  }

  @Test
  void aServerThatNeverAnswers_timesOut_andIsStopped() throws Exception {
    Path pid = dir.resolve("pid");
    ServeSettings s = serve("sh -c 'echo $$ > " + pid + "; exec sleep 60'", freePort(), 1);
    PolicyServer server = PolicyServer.start(s, "/ckpt", Redactor.of(List.of()), null, out);
    try (server) {
      StepFailure f = assertThrows(StepFailure.class, server::awaitReady);
      assertTrue(f.getMessage().contains("did not answer 200 within 1 s"), f.getMessage());
    }
    long p = Long.parseLong(Files.readString(pid).trim());
    assertFalse(ProcessHandle.of(p).map(ProcessHandle::isAlive).orElse(false), "the server was stopped");
  }

  @Test
  void aTakenPort_isRefusedBeforeAnythingStarts() throws Exception {
    try (ServerSocket taken = new ServerSocket(0)) {
      StepFailure f = assertThrows(StepFailure.class, () -> PolicyServer.start(
          serve("sleep 60", taken.getLocalPort(), 5), "/ckpt", Redactor.of(List.of()), null, out));
      assertTrue(f.getMessage().contains("already in use"), f.getMessage());
    }
  }
}
