package dev.moaa.runners.resident;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The {@code moaa} launcher's client of a resident JVM ({@link ResidentServer}): hands it one
 * command, copies the command's output to this process's stdout and stderr as it comes, and exits
 * with the command's exit code. Ctrl-C (or any signal that ends this JVM) stops the command, as it
 * would stop a command running in its own JVM.
 *
 * <p>{@code java -cp moaa-client.jar dev.moaa.runners.resident.ResidentClient SOCKET WAIT_MS SERVER_PID ARGS...}:
 * waits up to {@code WAIT_MS} for a server to listen on {@code SOCKET} (one that is starting), and
 * gives up early when the process {@code SERVER_PID} (the launcher's wrapper of the server it
 * started; 0: none) has ended. Exits {@value ResidentProtocol#NOT_SERVED} when no server took the command and
 * {@value ResidentProtocol#SERVER_BUSY} when the server was running another: in both cases nothing
 * ran, and the launcher starts the command in a JVM of its own.
 */
public final class ResidentClient {
  private ResidentClient() {}

  public static void main(String[] argv) throws IOException, InterruptedException {
    if (argv.length < 3) {
      System.err.println("usage: ResidentClient SOCKET WAIT_MS SERVER_PID ARGS...");
      System.exit(2);
    }
    Path socket = Path.of(argv[0]);
    long waitMs = Long.parseLong(argv[1]);
    long serverPid = Long.parseLong(argv[2]);
    List<String> args = Arrays.asList(argv).subList(3, argv.length);
    System.exit(run(socket, waitMs, serverPid, args, new FileOutputStream(FileDescriptor.out),
        new FileOutputStream(FileDescriptor.err)));
  }

  /** Where the thread that cancels the command is registered: the JVM's shutdown hooks, or a test's. */
  interface Hooks {
    void add(Thread cancel);

    void remove(Thread cancel);
  }

  static final Hooks SHUTDOWN = new Hooks() {
    @Override
    public void add(Thread cancel) {
      Runtime.getRuntime().addShutdownHook(cancel);
    }

    @Override
    public void remove(Thread cancel) {
      try {
        Runtime.getRuntime().removeShutdownHook(cancel);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it waits for the command's end, counted down by the caller
      }
    }
  };

  /** Runs {@code args} on the server at {@code socket}: the command's exit code, or one of the protocol's. */
  static int run(Path socket, long waitMs, long serverPid, List<String> args, OutputStream stdout,
      OutputStream stderr) throws IOException, InterruptedException {
    return run(socket, waitMs, serverPid, args, stdout, stderr, SHUTDOWN);
  }

  static int run(Path socket, long waitMs, long serverPid, List<String> args, OutputStream stdout,
      OutputStream stderr, Hooks hooks) throws IOException, InterruptedException {
    SocketChannel ch = connect(socket, waitMs, serverPid);
    if (ch == null) {
      return ResidentProtocol.NOT_SERVED;
    }
    DataOutputStream toServer = new DataOutputStream(Channels.newOutputStream(ch));
    DataInputStream fromServer = new DataInputStream(Channels.newInputStream(ch));
    CountDownLatch finished = new CountDownLatch(1);
    boolean[] accepted = {false};
    java.util.concurrent.atomic.AtomicBoolean cancelled = new java.util.concurrent.atomic.AtomicBoolean();
    // a signal that ends this JVM (Ctrl-C) stops the command: the server is told, and the output it
    // still sends is copied for a moment before this JVM goes
    Thread onSignal = new Thread(() -> {
      if (finished.getCount() > 0) {
        cancelled.set(true);
        try {
          // straight to the channel: its streams take the lock the reading thread holds while it waits
          ByteBuffer cancel = ByteBuffer.wrap(new byte[] {ResidentProtocol.CANCEL});
          while (cancel.hasRemaining()) {
            ch.write(cancel);
          }
          finished.await(3, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException ignored) {
          // the server is gone already
        }
      }
    }, "moaa-client-cancel");
    hooks.add(onSignal);
    try {
      ResidentProtocol.writeRequest(toServer, args);
      while (true) {
        byte type;
        try {
          type = fromServer.readByte();
        } catch (EOFException e) {
          if (!accepted[0]) {
            return ResidentProtocol.NOT_SERVED;
          }
          if (cancelled.get()) {
            return 130;
          }
          stderr.write(("moaa: the resident JVM stopped during the command (its log: "
              + socket.resolveSibling(socket.getFileName().toString().replace(".sock", ".log")) + ")\n")
              .getBytes(java.nio.charset.StandardCharsets.UTF_8));
          stderr.flush();
          return 1;
        }
        int len = fromServer.readInt();
        byte[] payload = fromServer.readNBytes(len);
        switch (type) {
          case ResidentProtocol.ACCEPTED -> accepted[0] = true;
          case ResidentProtocol.BUSY -> {
            return ResidentProtocol.SERVER_BUSY;
          }
          case ResidentProtocol.OUT -> {
            stdout.write(payload);
            stdout.flush();
          }
          case ResidentProtocol.ERR -> {
            stderr.write(payload);
            stderr.flush();
          }
          case ResidentProtocol.EXIT -> {
            return ByteBuffer.wrap(payload).getInt();
          }
          default -> throw new IOException("unknown frame " + type + " from the resident JVM");
        }
      }
    } catch (IOException e) {
      if (!accepted[0]) {
        return ResidentProtocol.NOT_SERVED;
      }
      throw e;
    } finally {
      finished.countDown();
      hooks.remove(onSignal);
      ch.close();
    }
  }

  private static SocketChannel connect(Path socket, long waitMs, long serverPid) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
    while (true) {
      if (Files.exists(socket)) {
        try {
          SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
          try {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return ch;
          } catch (IOException e) {
            ch.close();
          }
        } catch (IOException e) {
          // could not open a channel: treated as no server
        }
      }
      if (System.nanoTime() >= deadline
          || (serverPid > 0 && !ProcessHandle.of(serverPid).map(ProcessHandle::isAlive).orElse(false))) {
        return null;
      }
      Thread.sleep(10);
    }
  }
}
