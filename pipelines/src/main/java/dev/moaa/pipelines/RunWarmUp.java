package dev.moaa.pipelines;

import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.io.WriteShards;
import dev.moaa.transforms.moa.SharedModelClients;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.runners.TransformHierarchy;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.reflect.DoFnInvokers;

/**
 * One-time work the end of a run needs, done while the run waits for its model endpoints rather
 * than after the last answer: the end of a run is on its critical path, its middle mostly idles.
 *
 * <p>Once the first model call is in flight (the run is past reading and cleaning, which want
 * the cores), a daemon thread at the lowest priority:
 * <ul>
 *   <li>in a pipeline that runs in this JVM (the DirectRunner), builds the bytecode invoker of
 *       every {@code DoFn} class in the graph (Beam builds one per class on first use, and the
 *       file writes' steps are first used when the last record has arrived), and opens a Parquet
 *       and an Avro shard writer in memory ({@link WriteShards#warmUp}: the classes and the Snappy
 *       library the fixed-shard writes first load at the end);
 *   <li>in every run, draws two small charts (the run documents' warm-up): the report is drawn in
 *       this JVM after the run.
 * </ul>
 * Nothing it does changes the run's data or outputs; any failure is ignored (the same work is
 * then done when needed, as without it). A run that ends first stops it.
 */
final class RunWarmUp implements AutoCloseable {
  /** How often the thread looks for a first call in flight. */
  static final long POLL_MS = 100;

  private final Thread thread;
  private volatile boolean done;
  private volatile int invokers;

  private RunWarmUp(Pipeline p, Schema shardSchema, Collection<ModelEndpoint> models, boolean inProcess,
      RunDocuments documents) {
    // the graph is read here, in the caller's thread, not while the runner works on it
    List<DoFn<?, ?>> fns = inProcess ? doFns(p) : List.of();
    thread = new Thread(() -> run(fns, shardSchema, List.copyOf(models), inProcess, documents), "moaa-warm-up");
    thread.setDaemon(true);
    thread.setPriority(Thread.MIN_PRIORITY);
  }

  static RunWarmUp start(Pipeline p, Schema shardSchema, Collection<ModelEndpoint> models, boolean inProcess,
      RunDocuments documents) {
    RunWarmUp w = new RunWarmUp(p, shardSchema, models, inProcess, documents);
    w.thread.start();
    return w;
  }

  /** Whether the warm-up ran to its end. */
  boolean done() {
    return done;
  }

  /** DoFn invokers built. */
  int invokers() {
    return invokers;
  }

  /** Waits at most {@code millis} for the warm-up to end (for tests). */
  void join(long millis) throws InterruptedException {
    thread.join(millis);
  }

  private void run(List<DoFn<?, ?>> fns, Schema shardSchema, Collection<ModelEndpoint> models, boolean inProcess,
      RunDocuments documents) {
    try {
      while (models.stream().noneMatch(m -> SharedModelClients.inFlight(m) > 0)) {
        Thread.sleep(POLL_MS);
      }
      if (inProcess) {
        for (DoFn<?, ?> fn : fns) {
          if (Thread.currentThread().isInterrupted()) {
            return;
          }
          try {
            DoFnInvokers.invokerFor(fn);
            invokers++;
          } catch (RuntimeException | LinkageError e) {
            // the runner builds it when it needs it
          }
        }
        if (shardSchema != null) {
          WriteShards.warmUp(shardSchema);
        }
      }
      documents.warmUp();
      done = true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception | LinkageError | InternalError e) {
      // a warm-up that fails leaves the work to be done when it is needed
    }
  }

  /** The DoFn of every ParDo step of the graph (one per class is enough, but a copy costs nothing). */
  static List<DoFn<?, ?>> doFns(Pipeline p) {
    List<DoFn<?, ?>> fns = new ArrayList<>();
    p.traverseTopologically(new Pipeline.PipelineVisitor.Defaults() {
      @Override
      public void visitPrimitiveTransform(TransformHierarchy.Node node) {
        PTransform<?, ?> t = node.getTransform();
        // ParDo.SingleOutput is a composite around a MultiOutput: only the latter is a primitive
        if (t instanceof ParDo.MultiOutput<?, ?> m) {
          fns.add(m.getFn());
        }
      }
    });
    return fns;
  }

  @Override
  public void close() {
    thread.interrupt();
  }
}
