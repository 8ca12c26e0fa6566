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

  /** Starts a server and waits until it answers PING. */
  public static LocalRedis start() throws IOException {
    String binary = System.getenv().getOrDefault("MOAA_REDIS_SERVER", "redis-server");
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Path log = Files.createTempFile("moaa-redis-", ".log");
    Process p;
    try {
      p = new ProcessBuilder(List.of(binary, "--port", String.valueOf(port), "--bind", "127.0.0.1",
          "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"))
          .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    } catch (IOException e) {
      throw new IOException("cannot start " + binary + " (install the Debian package redis-server, or set"
          + " MOAA_REDIS_SERVER to its path): " + e.getMessage(), e);
    }
    LocalRedis redis = new LocalRedis(p, port, log);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        throw new IOException("redis-server exited at once: " + Files.readString(log, StandardCharsets.UTF_8));
      }
      if (redis.ping()) {
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
    throw new IOException("redis-server did not answer PING on port " + port + " within 20 s");
  }

  private boolean ping() {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[7];
      int n = in.readNBytes(buf, 0, 7);
      return n == 7 && new String(buf, StandardCharsets.US_ASCII).equals("+PONG\r\n");
    } catch (IOException e) {
      return false;
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
