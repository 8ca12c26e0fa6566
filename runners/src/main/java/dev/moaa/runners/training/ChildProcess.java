package dev.moaa.runners.training;

import dev.moaa.transforms.client.Redactor;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A child process (a trainer, a model server) whose output is read line by line as it comes:
 * standard error is merged into standard output by the OS, so lines keep the order the child wrote
 * them in (an error message stays after what led to it). Each line, with secrets masked, goes to a
 * {@link LineSink}, and the last lines are kept for the error message when it fails. Standard input
 * is closed at once.
 *
 * <p>{@link #stop(Duration)} ends the whole process tree (the child and every descendant, e.g. the
 * workers of {@code torchrun} or of a model server): SIGTERM to all of them, then SIGKILL to those
 * still alive after the grace period. A JVM shutdown hook (Ctrl-C, SIGTERM) stops every child still
 * running, so none outlives {@code moaa}.
 */
public final class ChildProcess implements AutoCloseable {
  /**
   * Where each line goes; called from the reading thread, one line at a time. {@code masked} is the
   * line to show or store; {@code raw} is only for reading values out of it.
   */
  @FunctionalInterface
  public interface LineSink {
    void line(String raw, String masked);
  }

  private static final Set<ChildProcess> LIVE = ConcurrentHashMap.newKeySet();
  private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      for (ChildProcess c : List.copyOf(LIVE)) {
        c.stop(SHUTDOWN_GRACE);
      }
    }, "moaa-child-shutdown"));
  }

  private final Process process;
  private final Redactor redactor;
  private final int tailLines;
  private final Deque<String> tail = new ArrayDeque<>();
  private final Thread pump;

  private ChildProcess(Process process, Redactor redactor, int tailLines, LineSink sink, String name) {
    this.process = process;
    this.redactor = redactor;
    this.tailLines = tailLines;
    this.pump = pump(process.getInputStream(), sink, name + "-output");
  }

  /**
   * Starts {@code argv} in {@code workDir} (null: the current directory) with this process's
   * environment plus {@code extraEnv}.
   *
   * @throws IOException when the program cannot be started (not found, not executable)
   */
  public static ChildProcess start(String name, List<String> argv, Map<String, String> extraEnv, Path workDir,
      Redactor redactor, int tailLines, LineSink sink) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
    pb.environment().putAll(extraEnv);
    if (workDir != null) {
      pb.directory(workDir.toFile());
    }
    Process p = pb.start();
    p.getOutputStream().close();
    ChildProcess c = new ChildProcess(p, redactor, tailLines, sink, name);
    LIVE.add(c);
    p.onExit().thenRun(() -> LIVE.remove(c));
    return c;
  }

  private Thread pump(InputStream in, LineSink sink, String name) {
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          if (line.isBlank()) {
            continue; // progress bars redraw with a bare carriage return: nothing to keep
          }
          String clean = redactor.apply(line);
          synchronized (tail) {
            tail.addLast(clean);
            while (tail.size() > tailLines) {
              tail.removeFirst();
            }
          }
          sink.line(line, clean);
        }
      } catch (IOException e) {
        // the stream closed under us: the process is gone
      }
    }, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  public long pid() {
    return process.pid();
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /**
   * Waits for the child to exit and for its output to be read (a grandchild that keeps the pipes
   * open is given a few seconds, then left to {@link #stop}).
   *
   * @return the exit code; 128 + N for a child killed by signal N
   */
  public int waitFor() throws InterruptedException {
    int code = process.waitFor();
    pump.join(5000);
    return code;
  }

  /** Waits at most {@code timeout}; true when the child has exited. */
  public boolean waitFor(Duration timeout) throws InterruptedException {
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  public int exitCode() {
    return process.exitValue();
  }

  /** The last lines of output, secrets masked. */
  public List<String> tail() {
    synchronized (tail) {
      return new ArrayList<>(tail);
    }
  }

  /**
   * Ends the child and all its descendants: SIGTERM, then SIGKILL after {@code grace} to any still
   * alive. Returns once they have exited (or SIGKILL was sent and a second grace period passed).
   */
  public void stop(Duration grace) {
    List<ProcessHandle> tree = new ArrayList<>();
    tree.add(process.toHandle());
    process.descendants().forEach(tree::add);
    for (ProcessHandle h : tree) {
      h.destroy();
    }
    long deadline = System.nanoTime() + grace.toNanos();
    for (ProcessHandle h : tree) {
      awaitExit(h, deadline);
    }
    List<ProcessHandle> left = new ArrayList<>();
    for (ProcessHandle h : tree) {
      if (h.isAlive()) {
        h.descendants().forEach(left::add);
        left.add(h);
      }
    }
    for (ProcessHandle h : left) {
      h.destroyForcibly();
    }
    long second = System.nanoTime() + grace.toNanos();
    for (ProcessHandle h : left) {
      awaitExit(h, second);
    }
    LIVE.remove(this);
  }

  private static void awaitExit(ProcessHandle h, long deadlineNanos) {
    long left = deadlineNanos - System.nanoTime();
    if (left <= 0 || !h.isAlive()) {
      return;
    }
    try {
      h.onExit().get(left, TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      // still alive: the caller escalates
    }
  }

  /** Stops the tree if it is still running (5 s grace). */
  @Override
  public void close() {
    if (process.isAlive() || process.descendants().findAny().isPresent()) {
      stop(SHUTDOWN_GRACE);
    }
  }
}
