package dev.moaa.pipelines;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;

/**
 * Keeps the DirectRunner's scheduling loop from spinning on a core while its work waits.
 *
 * <p>The DirectRunner drives a pipeline with one "monitor" task that collects finished bundles,
 * advances watermarks, fires timers and schedules new bundles, then puts itself back on the worker
 * pool at once, with no wait, whether or not anything happened (a known open problem,
 * apache/beam#18070). Each round walks every step of the graph under a lock; a MoAA graph has
 * about 200 steps, and its bundles spend nearly all their time waiting for model endpoints, so the
 * loop burns a whole core for the length of a run (measured on W1, 2,000 prompts on 2 cores: 85% of
 * the process's CPU samples in the middle of the run, and the core it takes is one the reading,
 * cleaning and writing steps then lack at the start and the end).
 *
 * <p>{@link #install} puts a gate in front of the loop's resubmission: when no task of the worker
 * pool has been submitted or has finished since the loop's previous round, the next round waits
 * until one has, checking every {@link #POLL_NANOS} and for at most {@link #MAX_IDLE_NANOS}. A
 * finished bundle is what gives the loop something to do, so it runs within a fraction of a
 * millisecond of one; timers and sources the loop polls are looked at at least every {@link
 * #MAX_IDLE_NANOS}.
 *
 * <p>It works on the runner's private fields, by name, because the runner offers no hook for it.
 * When they are not what this Beam version has (another runner, another version), nothing is
 * changed and the run goes on as Beam runs it; {@link #install} says which happened. The JVM
 * property {@code -Dmoaa.direct.pacing=false} turns it off (to compare, or should a Beam upgrade
 * keep the field names but change what they mean).
 */
public final class DirectMonitorPacing {
  /** How often a waiting round looks at the pool's counters. */
  static final long POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(250);
  /** The longest a round waits with nothing finished (timers, sources, the end of the run). */
  static final long MAX_IDLE_NANOS = TimeUnit.MILLISECONDS.toNanos(5);

  private static final String RESULT_CLASS = "org.apache.beam.runners.direct.DirectRunner$DirectPipelineResult";
  private static final String EXECUTOR_CLASS = "org.apache.beam.runners.direct.ExecutorServiceParallelExecutor";
  private static final String DRIVER_CLASS = "org.apache.beam.runners.local.ExecutionDriver";

  private DirectMonitorPacing() {}

  /**
   * Paces the scheduling loop of a DirectRunner result that {@code p.run()} handed back without
   * blocking. Returns the gate, or empty when the result is not one this knows how to pace.
   */
  public static Optional<Gate> install(PipelineResult result) {
    if (result == null || !RESULT_CLASS.equals(result.getClass().getName())
        || "false".equals(System.getProperty("moaa.direct.pacing"))) {
      return Optional.empty();
    }
    try {
      Object executor = field(result.getClass(), "executor").get(result);
      if (executor == null || !EXECUTOR_CLASS.equals(executor.getClass().getName())) {
        return Optional.empty();
      }
      Field poolField = field(executor.getClass(), "executorService");
      if (!(poolField.get(executor) instanceof ThreadPoolExecutor pool)) {
        return Optional.empty();
      }
      Gate gate = new Gate(pool);
      poolField.set(executor, gate);
      return Optional.of(gate);
    } catch (ReflectiveOperationException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * Runs {@code p}: on the DirectRunner without blocking (so that the caller can report progress
   * and wait with {@link JobEnd}) and with its scheduling loop paced; on other runners as Beam runs it.
   */
  public static PipelineResult run(Pipeline p) {
    boolean direct = p.getOptions().getRunner() == null
        || "DirectRunner".equals(p.getOptions().getRunner().getSimpleName());
    if (direct) {
      p.getOptions().as(DirectRunOptions.class).setBlockOnRun(false);
    }
    PipelineResult result = p.run();
    if (direct) {
      install(result);
    }
    return result;
  }

  private static Field field(Class<?> type, String name) throws NoSuchFieldException {
    Field f = type.getDeclaredField(name);
    if (Modifier.isStatic(f.getModifiers())) {
      throw new NoSuchFieldException(name + " is static");
    }
    f.setAccessible(true);
    return f;
  }

  /**
   * The runner's worker pool, as the runner's loop sees it: every call goes to the pool, except
   * that the loop's own resubmission waits for a reason to run.
   */
  public static final class Gate implements ExecutorService {
    private final ThreadPoolExecutor pool;
    private final Map<Class<?>, Boolean> loopClasses = new ConcurrentHashMap<>();
    private final AtomicLong rounds = new AtomicLong();
    private final AtomicLong waits = new AtomicLong();
    private final AtomicLong waitedNanos = new AtomicLong();
    private long lastSubmitted = -1;
    private long lastCompleted = -1;

    Gate(ThreadPoolExecutor pool) {
      this.pool = pool;
    }

    /** Rounds of the runner's loop seen so far. */
    public long rounds() {
      return rounds.get();
    }

    /** Rounds that waited (found nothing new when they were due). */
    public long waits() {
      return waits.get();
    }

    /** Time the loop spent waiting, in total. */
    public long waitedNanos() {
      return waitedNanos.get();
    }

    private boolean isLoop(Runnable task) {
      return loopClasses.computeIfAbsent(task.getClass(), c -> {
        if (c.getEnclosingClass() == null || !EXECUTOR_CLASS.equals(c.getEnclosingClass().getName())) {
          return false;
        }
        for (Field f : c.getDeclaredFields()) {
          if (DRIVER_CLASS.equals(f.getType().getName())) {
            return true;
          }
        }
        return false;
      });
    }

    /**
     * Called by the loop as its last act (one loop, so one caller at a time): wait while the
     * pool has neither taken nor finished a task since the previous round.
     */
    private void pace() {
      rounds.incrementAndGet();
      // the loop's own tasks are counted by the pool too: one submitted and (about to be) one
      // completed per round, so they are taken out by comparing against the last round's figures + 1
      long submitted = pool.getTaskCount();
      long completed = pool.getCompletedTaskCount();
      boolean idle = submitted == lastSubmitted + 1 && completed <= lastCompleted + 1;
      if (idle && !pool.isShutdown()) {
        waits.incrementAndGet();
        long start = System.nanoTime();
        long deadline = start + MAX_IDLE_NANOS;
        while (!Thread.currentThread().isInterrupted() && !pool.isShutdown()) {
          LockSupport.parkNanos(POLL_NANOS);
          if (pool.getTaskCount() != submitted || pool.getCompletedTaskCount() > completed + 1
              || System.nanoTime() >= deadline) {
            break;
          }
        }
        waitedNanos.addAndGet(System.nanoTime() - start);
        submitted = pool.getTaskCount();
        completed = pool.getCompletedTaskCount();
      }
      lastSubmitted = submitted;
      lastCompleted = completed;
    }

    @Override
    public Future<?> submit(Runnable task) {
      if (isLoop(task)) {
        pace();
      }
      return pool.submit(task);
    }

    @Override
    public <T> Future<T> submit(Runnable task, T result) {
      return pool.submit(task, result);
    }

    @Override
    public <T> Future<T> submit(Callable<T> task) {
      return pool.submit(task);
    }

    @Override
    public void execute(Runnable command) {
      pool.execute(command);
    }

    @Override
    public void shutdown() {
      pool.shutdown();
    }

    @Override
    public List<Runnable> shutdownNow() {
      return pool.shutdownNow();
    }

    @Override
    public boolean isShutdown() {
      return pool.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return pool.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
      return pool.awaitTermination(timeout, unit);
    }

    @Override
    public <T> List<Future<T>> invokeAll(Collection<? extends Callable<T>> tasks) throws InterruptedException {
      return pool.invokeAll(tasks);
    }

    @Override
    public <T> List<Future<T>> invokeAll(Collection<? extends Callable<T>> tasks, long timeout, TimeUnit unit)
        throws InterruptedException {
      return pool.invokeAll(tasks, timeout, unit);
    }

    @Override
    public <T> T invokeAny(Collection<? extends Callable<T>> tasks) throws InterruptedException, ExecutionException {
      return pool.invokeAny(tasks);
    }

    @Override
    public <T> T invokeAny(Collection<? extends Callable<T>> tasks, long timeout, TimeUnit unit)
        throws InterruptedException, ExecutionException, TimeoutException {
      return pool.invokeAny(tasks, timeout, unit);
    }
  }
}
