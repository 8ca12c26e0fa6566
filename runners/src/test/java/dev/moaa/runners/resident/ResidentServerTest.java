package dev.moaa.runners.resident;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The resident JVM's server and the launcher's client, in one JVM, with stand-in commands. */
class ResidentServerTest {
  @TempDir Path dir;

  private static final Runnable NOTHING = () -> { };

  /** A command that says it started, then waits (at most 20 s) for {@code until} and exits 0. */
  private static ResidentServer.Command waitingCommand(CountDownLatch started, CountDownLatch until) {
    return (args, out, err) -> {
      started.countDown();
      try {
        until.await(20, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return 0;
    };
  }

  private static Thread serveInBackground(ResidentServer server) {
    Thread t = new Thread(server::serve, "test-serve");
    t.setDaemon(true);
    t.start();
    return t;
  }

  @Test
  void givenACommand_clientGetsItsOutputInOrderAndItsExitCode() throws Exception {
    Path socket = dir.resolve("a.sock");
    ResidentServer.Router outRouter = new ResidentServer.Router(new PrintStream(new ByteArrayOutputStream()));
    PrintStream systemOut = new PrintStream(outRouter, true, Charset.defaultCharset());
    ResidentServer server = ResidentServer.bind(socket, (args, out, err) -> {
      out.println("args " + String.join("|", args));
      err.println("a warning");
      systemOut.println("from a logger"); // what System.out would write during the command
      out.println("done");
      return 3;
    }, Duration.ofMinutes(1), 1000, NOTHING, outRouter, null);
    serveInBackground(server);
    ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    int code = ResidentClient.run(socket, 1000, 0, List.of("sft", "--output=a b", "ünïcode"), stdout, stderr);
    assertEquals(3, code);
    assertEquals("args sft|--output=a b|ünïcode\nfrom a logger\ndone\n", stdout.toString(Charset.defaultCharset()));
    assertEquals("a warning\n", stderr.toString(Charset.defaultCharset()));
    // commands sent as soon as the one before has its exit code all go to the same server
    for (int i = 0; i < 50; i++) {
      stdout.reset();
      assertEquals(3, ResidentClient.run(socket, 1000, 0, List.of("again"), stdout, stderr), "command " + i);
      assertTrue(stdout.toString(Charset.defaultCharset()).startsWith("args again\n"));
    }
    assertEquals(51, server.runs());
    server.close();
    assertFalse(Files.exists(socket), "closing removes the socket file");
  }

  @Test
  void givenARunningCommand_anotherClientIsToldBusyAndNothingRuns() throws Exception {
    Path socket = dir.resolve("b.sock");
    CountDownLatch release = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    ResidentServer server = ResidentServer.bind(socket, waitingCommand(started, release), Duration.ofMinutes(1), 100,
        NOTHING, null, null);
    serveInBackground(server);
    CompletableFuture<Integer> first = CompletableFuture.supplyAsync(() -> {
      try {
        return ResidentClient.run(socket, 1000, 0, List.of("long"), new ByteArrayOutputStream(), new ByteArrayOutputStream());
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    assertTrue(started.await(10, TimeUnit.SECONDS));
    assertEquals(ResidentProtocol.SERVER_BUSY, ResidentClient.run(socket, 1000, 0, List.of("second"),
        new ByteArrayOutputStream(), new ByteArrayOutputStream()));
    release.countDown();
    assertEquals(0, first.get(10, TimeUnit.SECONDS));
    assertEquals(1, server.runs(), "the refused command did not run");
    server.close();
  }

  @Test
  void givenNoServerOrAStaleSocket_clientSaysNotServed_andANewServerReplacesTheStaleFile() throws Exception {
    Path socket = dir.resolve("c.sock");
    assertEquals(ResidentProtocol.NOT_SERVED, ResidentClient.run(socket, 0, 0, List.of("x"),
        new ByteArrayOutputStream(), new ByteArrayOutputStream()));
    // a server that died without removing its file
    java.nio.channels.ServerSocketChannel dead = java.nio.channels.ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    dead.bind(UnixDomainSocketAddress.of(socket));
    dead.close();
    assertTrue(Files.exists(socket));
    assertEquals(ResidentProtocol.NOT_SERVED, ResidentClient.run(socket, 200, 0, List.of("x"),
        new ByteArrayOutputStream(), new ByteArrayOutputStream()));
    ResidentServer server = ResidentServer.bind(socket, (args, out, err) -> 7, Duration.ofMinutes(1), 100, NOTHING,
        null, null);
    assertNotNull(server);
    serveInBackground(server);
    assertEquals(7, ResidentClient.run(socket, 1000, 0, List.of("x"), new ByteArrayOutputStream(),
        new ByteArrayOutputStream()));
    assertNull(ResidentServer.bind(socket, (args, out, err) -> 0, Duration.ofMinutes(1), 100, NOTHING, null, null),
        "a second server does not take a socket another one answers on");
    server.close();
  }

  @Test
  void givenAServerStillStarting_clientWaitsForIt_andStopsWaitingWhenItsProcessIsGone() throws Exception {
    Path socket = dir.resolve("d.sock");
    CompletableFuture<Integer> waiting = CompletableFuture.supplyAsync(() -> {
      try {
        return ResidentClient.run(socket, 20_000, 0, List.of("x"), new ByteArrayOutputStream(),
            new ByteArrayOutputStream());
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    Thread.sleep(300);
    ResidentServer server = ResidentServer.bind(socket, (args, out, err) -> 5, Duration.ofMinutes(1), 100, NOTHING,
        null, null);
    serveInBackground(server);
    assertEquals(5, waiting.get(20, TimeUnit.SECONDS));
    server.close();
    // the server's process ended: no waiting for the full time
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    long t0 = System.nanoTime();
    assertEquals(ResidentProtocol.NOT_SERVED, ResidentClient.run(dir.resolve("never.sock"), 60_000, gone.pid(),
        List.of("x"), new ByteArrayOutputStream(), new ByteArrayOutputStream()));
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30));
  }

  @Test
  void givenAClientThatGoesAwayMidCommand_theServerIsTold() throws Exception {
    Path socket = dir.resolve("e.sock");
    CountDownLatch gone = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    ResidentServer server = ResidentServer.bind(socket, waitingCommand(started, gone), Duration.ofMinutes(1), 100,
        gone::countDown, null, null);
    serveInBackground(server);
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      ResidentProtocol.writeRequest(new DataOutputStream(Channels.newOutputStream(ch)), List.of("long"));
      DataInputStream in = new DataInputStream(Channels.newInputStream(ch));
      assertEquals(ResidentProtocol.ACCEPTED, in.readByte());
      assertTrue(started.await(10, TimeUnit.SECONDS));
    }
    assertTrue(gone.await(10, TimeUnit.SECONDS), "the server learns that its client went away");
    server.close();
  }

  @Test
  void givenCtrlCWhileTheClientWaitsForOutput_theServerIsToldAtOnce() throws Exception {
    Path socket = dir.resolve("k.sock");
    CountDownLatch gone = new CountDownLatch(1);
    CountDownLatch started = new CountDownLatch(1);
    ResidentServer server = ResidentServer.bind(socket, (args, out, err) -> {
      out.println("working");
      started.countDown();
      try {
        // a command that prints nothing for a long time: the client sits in its read
        return gone.await(30, TimeUnit.SECONDS) ? 130 : 0;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return 1;
      }
    }, Duration.ofMinutes(1), 100, gone::countDown, null, null);
    serveInBackground(server);
    Thread[] hook = new Thread[1];
    ResidentClient.Hooks hooks = new ResidentClient.Hooks() {
      @Override
      public void add(Thread cancel) {
        hook[0] = cancel;
      }

      @Override
      public void remove(Thread cancel) { }
    };
    CompletableFuture<Integer> client = CompletableFuture.supplyAsync(() -> {
      try {
        return ResidentClient.run(socket, 1000, 0, List.of("long"), new ByteArrayOutputStream(),
            new ByteArrayOutputStream(), hooks);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    assertTrue(started.await(10, TimeUnit.SECONDS));
    Thread.sleep(200);
    long t0 = System.nanoTime();
    hook[0].start(); // as the JVM would on SIGINT
    assertTrue(gone.await(5, TimeUnit.SECONDS), "the cancel reaches the server while the client is reading");
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5));
    assertEquals(130, client.get(10, TimeUnit.SECONDS));
    hook[0].join(10_000);
    server.close();
  }

  @Test
  void givenNoCommandForTheIdleTime_orTheLastAllowedRun_theServerLeaves() throws Exception {
    Path idle = dir.resolve("f.sock");
    ResidentServer s1 = ResidentServer.bind(idle, (args, out, err) -> 0, Duration.ofMillis(200), 100, NOTHING,
        null, null);
    Thread t1 = serveInBackground(s1);
    t1.join(10_000);
    assertFalse(t1.isAlive(), "an idle server stops serving");
    assertFalse(Files.exists(idle));

    Path once = dir.resolve("g.sock");
    ResidentServer s2 = ResidentServer.bind(once, (args, out, err) -> 0, Duration.ofMinutes(1), 1, NOTHING,
        null, null);
    Thread t2 = serveInBackground(s2);
    assertEquals(0, ResidentClient.run(once, 1000, 0, List.of("x"), new ByteArrayOutputStream(),
        new ByteArrayOutputStream()));
    t2.join(10_000);
    assertFalse(t2.isAlive(), "a server leaves after its last allowed run");
  }

  @Test
  void givenACommandThatThrows_clientGetsExitCode1AndTheCause() throws Exception {
    Path socket = dir.resolve("h.sock");
    ResidentServer server = ResidentServer.bind(socket, (args, out, err) -> {
      throw new IllegalStateException("a defect");
    }, Duration.ofMinutes(1), 100, NOTHING, null, null);
    serveInBackground(server);
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    assertEquals(1, ResidentClient.run(socket, 1000, 0, List.of("x"), new ByteArrayOutputStream(), stderr));
    assertTrue(stderr.toString(StandardCharsets.UTF_8).contains("a defect"));
    server.close();
  }
}
