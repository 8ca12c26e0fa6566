package dev.moaa.runners.launch;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code redis-server} on 127.0.0.1 at a free port, in memory only (no snapshot, no append
 * log), for tests and local trials of the shared response cache. Needs {@code redis-server} on the
 * PATH (Debian package {@code redis-server}; {@code ./run-tests} installs it) or at
 * {@code $MOAA_REDIS_SERVER}.
 */
public final class LocalRedis implements AutoCloseable {
  private final Process process;
  private final int port;
  private final Path log;

  private LocalRedis(Process process, int port, Path log) {
    this.process = process;
    this.port = port;
    this.log = log;
  }

  /** How many free ports a start tries when another process binds the one picked first. */
  static final int PORT_ATTEMPTS = 3;

  /**
   * Starts a server and waits until it answers with its own process id. A free port is picked by binding and releasing
   * it; another process may bind it before redis-server does, and a start that lost that race is
   * tried again on another port.
   */
  public static LocalRedis start() throws IOException {
    for (int attempt = 1; ; attempt++) {
      int port;
      try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        port = s.getLocalPort();
      }
      try {
        return startOn(port);
      } catch (PortTaken e) {
        if (attempt >= PORT_ATTEMPTS) {
          throw new IOException(e.getMessage(), e);
        }
      }
    }
  }

  /** The port given to redis-server was taken by another process. */
  static final class PortTaken extends IOException {
    private static final long serialVersionUID = 1L;

    PortTaken(String message) {
      super(message);
    }
  }

  /** Starts a server on {@code port}; {@link PortTaken} when another process holds the port. */
  static LocalRedis startOn(int port) throws IOException {
    return startOn(port, null);
  }

  /**
   * Starts a server that keeps its data in {@code dir} (an append-only file, written through at
   * every command) on {@code port}: one killed and started again on the same folder and port has
   * its data back, as a production Redis with persistence does. For tests of a store that dies.
   */
  public static LocalRedis startPersistent(Path dir, int port) throws IOException {
    Files.createDirectories(dir);
    return startOn(port, dir);
  }

  /** Ends the server as a crash would (SIGKILL): nothing is flushed or saved on the way out. */
  public void kill() {
    process.destroyForcibly();
    try {
      process.waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static LocalRedis startOn(int port, Path dataDir) throws IOException {
    String binary = System.getenv().getOrDefault("MOAA_REDIS_SERVER", "redis-server");
    Path log = Files.createTempFile("moaa-redis-", ".log");
    Process p;
    List<String> args = new java.util.ArrayList<>(List.of(binary, "--port", String.valueOf(port), "--bind",
        "127.0.0.1", "--save", "", "--protected-mode", "yes", "--daemonize", "no"));
    if (dataDir == null) {
      args.addAll(List.of("--appendonly", "no"));
    } else {
      args.addAll(List.of("--appendonly", "yes", "--appendfsync", "always", "--dir", dataDir.toAbsolutePath().toString()));
    }
    try {
      p = new ProcessBuilder(args).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    } catch (IOException e) {
      throw new IOException("cannot start " + binary + " (install the Debian package redis-server, or set"
          + " MOAA_REDIS_SERVER to its path): " + e.getMessage(), e);
    }
    LocalRedis redis = new LocalRedis(p, port, log);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        String said = Files.readString(log, StandardCharsets.UTF_8);
        redis.close();
        if (said.contains("Address already in use")) {
          throw new PortTaken("redis-server could not bind port " + port + ": " + said.strip());
        }
        throw new IOException("redis-server exited at once: " + said);
      }
      // an answer counts only from our own server: another process's on this port is not ours
      if (redis.serverPid() == p.pid()) {
        return redis;
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    redis.close();
    throw new IOException("redis-server did not answer on port " + port + " within 20 s");
  }

  /** The process id the server on {@link #port} reports ({@code INFO server}); -1 when it does not say. */
  long serverPid() {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      out.write("*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      StringBuilder reply = new StringBuilder();
      byte[] buf = new byte[4096];
      while (reply.indexOf("process_id:") < 0 || reply.indexOf("\n", reply.indexOf("process_id:")) < 0) {
        int n = in.read(buf);
        if (n < 0) {
          break;
        }
        reply.append(new String(buf, 0, n, StandardCharsets.US_ASCII));
      }
      int at = reply.indexOf("process_id:");
      if (at < 0) {
        return -1;
      }
      int end = reply.indexOf("\r", at);
      return Long.parseLong(reply.substring(at + "process_id:".length(), end < 0 ? reply.length() : end).trim());
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  public int port() {
    return port;
  }

  /** {@code redis://127.0.0.1:PORT}. */
  public String url() {
    return "redis://127.0.0.1:" + port;
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
    try {
      Files.deleteIfExists(log);
    } catch (IOException ignored) {
      // a temp file
    }
  }
}
