package dev.moaa.transforms.moa;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.joda.time.Instant;

/**
 * The asynchronous chains one DoFn instance has under way in a bundle, at most {@code limit} of
 * them, each with the timestamp and window of the element that started it. A chain's result may be
 * emitted from {@code @ProcessElement} only while an element of the same timestamp and window is
 * being processed; the rest are emitted, in their own timestamp and window, when the bundle ends.
 *
 * @param <O> what a chain ends with
 */
public final class ChainsInFlight<O> {
  /** Emits a finished chain's result in the timestamp and window it started with. */
  public interface Emitter<O> {
    void emit(O result, Instant timestamp, BoundedWindow window);
  }

  private record Pending<O>(CompletableFuture<O> future, Instant timestamp, BoundedWindow window) {}

  private final int limit;
  private final String what;
  private List<Pending<O>> pending = new ArrayList<>();

  /** {@code what}: the unit of work, for error messages ("conversation", "prompt"). */
  public ChainsInFlight(int limit, String what) {
    if (limit < 1) {
      throw new IllegalArgumentException("limit must be at least 1, got " + limit);
    }
    this.limit = limit;
    this.what = what;
  }

  /**
   * Adds the chain started for the current element, emits (through {@code emit}) the finished chains
   * that share its timestamp and window, and while {@code limit} chains are under way waits for one
   * to finish. Returns how many were under way once the chain was added.
   */
  public int add(CompletableFuture<O> chain, Instant timestamp, BoundedWindow window, Consumer<O> emit)
      throws InterruptedException {
    pending.add(new Pending<>(chain, timestamp, window));
    int size = pending.size();
    emitFinished(timestamp, window, emit);
    while (pending.size() >= limit) {
      try {
        CompletableFuture.anyOf(pending.stream().map(Pending::future).toArray(CompletableFuture[]::new)).get();
      } catch (ExecutionException e) {
        throw failed(e);
      }
      emitFinished(timestamp, window, emit);
    }
    return size;
  }

  /** Waits for every chain still under way and emits each in its own timestamp and window (at the end of a bundle). */
  public void drain(Emitter<O> emit) {
    List<Pending<O>> batch = pending;
    pending = new ArrayList<>();
    for (Pending<O> p : batch) {
      emit.emit(result(p), p.timestamp(), p.window());
    }
  }

  private void emitFinished(Instant timestamp, BoundedWindow window, Consumer<O> emit) {
    for (Iterator<Pending<O>> it = pending.iterator(); it.hasNext(); ) {
      Pending<O> p = it.next();
      if (p.future().isDone() && p.window().equals(window) && p.timestamp().equals(timestamp)) {
        it.remove();
        emit.accept(result(p));
      }
    }
  }

  private O result(Pending<O> p) {
    try {
      return p.future().get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for a " + what, e);
    } catch (ExecutionException e) {
      throw failed(e);
    }
  }

  private IllegalStateException failed(ExecutionException e) {
    return new IllegalStateException("a " + what + "'s chain failed unexpectedly", e.getCause());
  }
}
