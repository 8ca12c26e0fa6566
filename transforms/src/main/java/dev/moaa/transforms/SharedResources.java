package dev.moaa.transforms;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The one registry of what a JVM's workers share: each model's client and call pool, response
 * caches, coordinators, budget ledgers, call ledgers and in-JVM coordination state. A resource is
 * named by its kind and a key; the first {@link #acquire} opens it, every later one shares it, and
 * the last {@link #release} closes it (outside the registry's lock: closing may wait). A DoFn takes
 * what it needs in {@code @Setup} and gives it back in {@code @Teardown}, however many instances a
 * runner makes of it.
 */
public final class SharedResources {
  /** Opens a resource; may fail with {@code E}. */
  @FunctionalInterface
  public interface Opener<T, E extends Exception> {
    T open() throws E;
  }

  /** Closes a resource once its last holder let go. */
  @FunctionalInterface
  public interface Closer<T> {
    void close(T value);
  }

  private static final class Held {
    final Object value;
    final Closer<Object> close;
    int leases;

    @SuppressWarnings("unchecked")
    Held(Object value, Closer<?> close) {
      this.value = value;
      this.close = (Closer<Object>) close;
    }
  }

  private static final Map<String, Held> HELD = new HashMap<>();

  private SharedResources() {}

  private static String name(String kind, String key) {
    return kind + "\u0000" + key;
  }

  /**
   * The resource {@code kind}/{@code key}, opened by {@code open} when none is held; pair each call
   * with one {@link #release}. {@code close} runs when the last holder releases it.
   */
  public static <T, E extends Exception> T acquire(String kind, String key, Opener<T, E> open, Closer<T> close)
      throws E {
    String n = name(kind, key);
    synchronized (HELD) {
      Held h = HELD.get(n);
      if (h == null) {
        h = new Held(open.open(), close);
        HELD.put(n, h);
      }
      h.leases++;
      @SuppressWarnings("unchecked")
      T value = (T) h.value;
      return value;
    }
  }

  /**
   * Gives back one hold of {@code value} ({@code kind}/{@code key}); the last one closes it. True
   * when this was the last hold (and the resource was closed).
   */
  public static boolean release(String kind, String key, Object value) {
    String n = name(kind, key);
    Held last;
    synchronized (HELD) {
      Held h = HELD.get(n);
      if (h == null || h.value != value || --h.leases > 0) {
        return false;
      }
      HELD.remove(n);
      last = h;
    }
    last.close.close(last.value);
    return true;
  }

  /** The resource {@code kind}/{@code key} when one is held, else null; takes no hold. */
  @SuppressWarnings("unchecked")
  public static <T> T peek(String kind, String key) {
    synchronized (HELD) {
      Held h = HELD.get(name(kind, key));
      return h == null ? null : (T) h.value;
    }
  }

  /** How many resources of each kind are held now (for tests and diagnostics). */
  public static Map<String, Integer> held() {
    Map<String, Integer> out = new TreeMap<>();
    synchronized (HELD) {
      HELD.keySet().forEach(n -> out.merge(n.substring(0, n.indexOf('\u0000')), 1, Integer::sum));
    }
    return out;
  }
}
