package dev.moaa.transforms.limits;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code redis-server} on a free 127.0.0.1 port, in memory only, for the tests of this
 * package ({@code redis-server} on the PATH, or at {@code $MOAA_REDIS_SERVER}).
 */
final class TestRedis implements AutoCloseable {
  private final Process process;
  private final int port;
  private final Path log;

  private TestRedis(Process process, int port, Path log) {
    this.process = process;
    this.port = port;
    this.log = log;
  }

  /** Starts a server, with {@code extra} arguments (e.g. {@code --requirepass pw}), and waits for it. */
  static TestRedis start(String... extra) throws IOException, InterruptedException {
    String binary = System.getenv().getOrDefault("MOAA_REDIS_SERVER", "redis-server");
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Path log = Files.createTempFile("moaa-coord-redis-", ".log");
    List<String> cmd = new ArrayList<>(List.of(binary, "--port", String.valueOf(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no", "--daemonize", "no"));
    cmd.addAll(List.of(extra));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    TestRedis r = new TestRedis(p, port, log);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (System.nanoTime() < deadline) {
      if (!p.isAlive()) {
        throw new IOException("redis-server exited at once: " + Files.readString(log, StandardCharsets.UTF_8));
      }
      if (r.answers()) {
        return r;
      }
      Thread.sleep(20);
    }
    r.close();
    throw new IOException("redis-server did not start on port " + port + " within 20 s");
  }

  /** Whether the server answers (PONG, or NOAUTH when it wants a password). */
  private boolean answers() {
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(1000);
      OutputStream out = s.getOutputStream();
      out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
      out.flush();
      InputStream in = s.getInputStream();
      int c = in.read();
      return c == '+' || c == '-';
    } catch (IOException e) {
      return false;
    }
  }

  int port() {
    return port;
  }

  /** {@code redis://127.0.0.1:PORT/0}. */
  String url() {
    return "redis://127.0.0.1:" + port + "/0";
  }

  @Override
  public void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
    try {
      Files.deleteIfExists(log);
    } catch (IOException ignored) {
      // a temp file
    }
  }
}
