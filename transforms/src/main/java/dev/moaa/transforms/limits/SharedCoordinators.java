package dev.moaa.transforms.limits;

import java.util.HashMap;
import java.util.Map;

/**
 * One open coordinator per spec per JVM, shared by every DoFn instance of a worker: one connection
 * pool and one heartbeat thread, opened by the first {@link #acquire} (in {@code @Setup}) and
 * closed by the last {@link #release} (in {@code @Teardown}).
 */
public final class SharedCoordinators {
  private static final Map<String, Entry> OPEN = new HashMap<>();

  private SharedCoordinators() {}

  private static final class Entry {
    final Coordinator coordinator;
    int leases;

    Entry(Coordinator coordinator) {
      this.coordinator = coordinator;
    }
  }

  /** The open coordinator of {@code spec}; pair each call with one {@link #release}. */
  public static synchronized Coordinator acquire(Coordination spec) {
    Entry e = OPEN.get(spec.sharingKey());
    if (e == null) {
      e = new Entry(spec.open());
      OPEN.put(spec.sharingKey(), e);
    }
    e.leases++;
    return e.coordinator;
  }

  public static synchronized void release(Coordination spec) {
    Entry e = OPEN.get(spec.sharingKey());
    if (e != null && --e.leases == 0) {
      OPEN.remove(spec.sharingKey());
      e.coordinator.close();
    }
  }
}
