package dev.moaa.runners.resident;

import dev.moaa.runners.Moaa;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A resident JVM for {@code moaa} commands: it listens on a Unix-domain socket and runs one command
 * at a time, for the launcher's {@link ResidentClient}, in a JVM whose classes are loaded and
 * compiled already. A short run's fixed costs (loading Beam, its options registry, building and
 * translating the graph, the first Parquet writer) are paid once, by the first run, instead of by
 * every run: measured on 2 cores, a 400-prompt run's first call went from about 3 s after the start
 * to under 1 s.
 *
 * <p>What a command sees is what it would see in a JVM of its own: the launcher keeps one server per
 * working directory, environment, Java options and jar (a server is never handed a command from
 * another environment, so API keys and relative paths mean what they mean to the user's shell); its
 * output, {@code System.out} and {@code System.err} included, goes to the client as it is written;
 * the exit code is the command's. A client that goes away mid-run (Ctrl-C) ends this JVM, as the
 * signal would end a command's own JVM. The server leaves after {@code idle} without a command,
 * after {@code maxRuns} commands, or after a command that ended with an {@link Error} (its heap is
 * not trusted for the next).
 */
public final class ResidentServer implements AutoCloseable {
  /** The command a request runs: {@code moaa ARGS}, its output to the two streams, its exit code. */
  @FunctionalInterface
  public interface Command {
    int run(String[] args, PrintStream out, PrintStream err);
  }

  private final Path socket;
  private final ServerSocketChannel channel;
  private final Command command;
  private final Duration idle;
  private final int maxRuns;
  private final Runnable onClientGone;
  private final AtomicBoolean busy = new AtomicBoolean();
  private final AtomicInteger runs = new AtomicInteger();
  private final Router outRouter;
  private final Router errRouter;
  private volatile long lastActiveNanos = System.nanoTime();
  /** Whether the heap was collected since the last command ended. */
  private volatile boolean collected = true;

  private ResidentServer(Path socket, ServerSocketChannel channel, Command command, Duration idle, int maxRuns,
      Runnable onClientGone, Router outRouter, Router errRouter) {
    this.socket = socket;
    this.channel = channel;
    this.command = command;
    this.idle = idle;
    this.maxRuns = maxRuns;
    this.onClientGone = onClientGone;
    this.outRouter = outRouter;
    this.errRouter = errRouter;
  }

  /** {@code ResidentServer SOCKET IDLE_SECONDS [MAX_RUNS]}: serves until idle, then exits 0. */
  public static void main(String[] args) throws IOException {
    Path socket = Path.of(args[0]);
    Duration idle = Duration.ofSeconds(Long.parseLong(args[1]));
    int maxRuns = args.length > 2 ? Integer.parseInt(args[2]) : 100;
    // every byte a command writes to System.out or System.err goes to its client: installed before
    // anything (a logger) can keep a reference to the JVM's own streams
    Router out = new Router(System.out);
    Router err = new Router(System.err);
    System.setOut(new PrintStream(out, true, Charset.defaultCharset()));
    System.setErr(new PrintStream(err, true, Charset.defaultCharset()));
    ResidentServer server = bind(socket, Moaa::run, idle, maxRuns, () -> {
      err.original().println("moaa resident JVM: the client went away during its command; stopping, as its"
          + " Ctrl-C would stop a command in a JVM of its own");
      // exit from another thread: this may be called from a thread the shutdown waits for
      new Thread(() -> System.exit(130), "moaa-resident-exit").start();
    }, out, err);
    if (server == null) {
      err.original().println("moaa resident JVM: another one already serves " + socket);
      return;
    }
    Path pid = sibling(socket, ".pid");
    Files.writeString(pid, ProcessHandle.current().pid() + "\n");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      try {
        Files.deleteIfExists(pid);
      } catch (IOException ignored) {
        // nothing to do on the way out
      }
    }, "moaa-resident-cleanup"));
    out.original().println("moaa resident JVM " + ProcessHandle.current().pid() + " serving " + socket
        + " (leaves after " + idle.toSeconds() + " s without a command)");
    server.serve();
    System.exit(0);
  }

  /**
   * Listens on {@code socket}: null when another server answers there already (a stale socket file,
   * one nobody answers on, is replaced). {@code outRouter} and {@code errRouter}, when not null, are
   * what {@code System.out} and {@code System.err} write to, pointed at the running command's client.
   */
  static ResidentServer bind(Path socket, Command command, Duration idle, int maxRuns, Runnable onClientGone,
      Router outRouter, Router errRouter) throws IOException {
    if (Files.exists(socket)) {
      try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        probe.connect(UnixDomainSocketAddress.of(socket));
        return null;
      } catch (IOException nobodyThere) {
        Files.deleteIfExists(socket);
      }
    }
    ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    ch.bind(UnixDomainSocketAddress.of(socket));
    try {
      Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
    } catch (UnsupportedOperationException notPosix) {
      // the folder's own permissions (the launcher makes it 0700) still keep others out
    }
    return new ResidentServer(socket, ch, command, idle, maxRuns, onClientGone, outRouter, errRouter);
  }

  /** Accepts clients until idle for the set time, or the set number of runs was served. */
  void serve() {
    Thread idleWatch = new Thread(() -> {
      while (channel.isOpen()) {
        try {
          Thread.sleep(Math.min(1000, Math.max(10, idle.toMillis() / 4)));
        } catch (InterruptedException e) {
          return;
        }
        long quiet = System.nanoTime() - lastActiveNanos;
        if (!busy.get() && quiet > idle.toNanos()) {
          close();
        } else if (!busy.get() && !collected && quiet > COLLECT_AFTER_NANOS) {
          // what the last command left behind is garbage now: collected once nobody has come for a
          // moment (not at once: a command that follows at once would wait for the collection),
          // so that an idle server holds little memory and the next command starts on a small heap
          collected = true;
          System.gc();
        }
      }
    }, "moaa-resident-idle");
    idleWatch.setDaemon(true);
    idleWatch.start();
    while (channel.isOpen()) {
      SocketChannel client;
      try {
        client = channel.accept();
      } catch (ClosedChannelException closed) {
        break;
      } catch (IOException e) {
        if (!channel.isOpen()) {
          break;
        }
        continue;
      }
      Thread t = new Thread(() -> handle(client), "moaa-resident-command");
      t.start();
    }
  }

  private void handle(SocketChannel client) {
    try (client) {
      List<String> args = ResidentProtocol.readRequest(new DataInputStream(Channels.newInputStream(client)));
      FrameWriter frames = new FrameWriter(client);
      if (!channel.isOpen() || !busy.compareAndSet(false, true)) {
        // closing: the client's NOT_SERVED (no frame) starts the command elsewhere
        if (channel.isOpen()) {
          frames.write(ResidentProtocol.BUSY, new byte[0]);
        }
        return;
      }
      AtomicBoolean released = new AtomicBoolean();
      Runnable release = () -> {
        if (released.compareAndSet(false, true)) {
          lastActiveNanos = System.nanoTime();
          collected = false;
          busy.set(false);
        }
      };
      try {
        runOne(client, frames, args, release);
      } finally {
        release.run();
      }
    } catch (IOException e) {
      // a client that went away before its command started: nothing ran
    }
  }

  private void runOne(SocketChannel client, FrameWriter frames, List<String> args, Runnable release)
      throws IOException {
    int n = runs.incrementAndGet();
    frames.write(ResidentProtocol.ACCEPTED, new byte[0]);
    PrintStream out = new PrintStream(frames.stream(ResidentProtocol.OUT), true, Charset.defaultCharset());
    PrintStream err = new PrintStream(frames.stream(ResidentProtocol.ERR), true, Charset.defaultCharset());
    AtomicBoolean done = new AtomicBoolean();
    Thread watch = new Thread(() -> {
      try {
        // the client sends nothing more unless it is stopped; its end closing means the same
        Channels.newInputStream(client).read();
      } catch (IOException ignored) {
        // closed by us after the command, or by the client
      }
      if (!done.get()) {
        onClientGone.run();
      }
    }, "moaa-resident-client-watch");
    watch.setDaemon(true);
    watch.start();
    route(out, err);
    int code;
    boolean fatal = false;
    try {
      code = command.run(args.toArray(String[]::new), out, err);
    } catch (Throwable t) {
      // a command's own failures are answered inside it; what reaches here is a defect or an Error
      err.println("moaa: " + t);
      code = 1;
      fatal = t instanceof Error;
    } finally {
      out.flush();
      err.flush();
      route(null, null);
    }
    done.set(true);
    if (fatal || n >= maxRuns) {
      close(); // no next command here: from now on a client starts another JVM
    }
    // free before the exit code goes out: a client that sends its next command as soon as it has
    // the code must find this JVM free, not busy with the command that just ended
    release.run();
    frames.write(ResidentProtocol.EXIT, ByteBuffer.allocate(4).putInt(code).array());
    client.close();
  }

  private void route(PrintStream out, PrintStream err) {
    if (outRouter != null) {
      outRouter.to(out);
    }
    if (errRouter != null) {
      errRouter.to(err);
    }
  }

  private static final long COLLECT_AFTER_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(2);

  /** Commands this server has taken. */
  int runs() {
    return runs.get();
  }

  /** Stops listening and removes the socket file; a command running goes on to its end. */
  @Override
  public void close() {
    try {
      // the file first: a client from now on finds no server and starts one (or the command elsewhere)
      Files.deleteIfExists(socket);
    } catch (IOException ignored) {
      // closing anyway
    }
    try {
      channel.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  static Path sibling(Path socket, String suffix) {
    String name = socket.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return socket.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + suffix);
  }

  /** Writes frames to one client; the command's threads write through it at once. */
  static final class FrameWriter {
    private final SocketChannel client;

    FrameWriter(SocketChannel client) {
      this.client = client;
    }

    synchronized void write(byte type, byte[] payload) throws IOException {
      write(type, payload, 0, payload.length);
    }

    synchronized void write(byte type, byte[] b, int off, int len) throws IOException {
      ByteBuffer buf = ByteBuffer.allocate(5 + len);
      buf.put(type).putInt(len).put(b, off, len).flip();
      while (buf.hasRemaining()) {
        client.write(buf);
      }
    }

    OutputStream stream(byte type) {
      return new OutputStream() {
        @Override
        public void write(int b) throws IOException {
          FrameWriter.this.write(type, new byte[] {(byte) b});
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          if (len > 0) {
            FrameWriter.this.write(type, b, off, len);
          }
        }
      };
    }
  }

  /** What {@code System.out} or {@code System.err} writes to: the running command's client, else the server's log. */
  static final class Router extends OutputStream {
    private final PrintStream original;
    private volatile PrintStream target;

    Router(PrintStream original) {
      this.original = original;
    }

    PrintStream original() {
      return original;
    }

    void to(PrintStream stream) {
      target = stream;
    }

    private PrintStream current() {
      PrintStream t = target;
      return t == null ? original : t;
    }

    @Override
    public void write(int b) {
      current().write(b);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      current().write(b, off, len);
    }

    @Override
    public void flush() {
      current().flush();
    }
  }
}
