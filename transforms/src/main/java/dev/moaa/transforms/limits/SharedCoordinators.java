package dev.moaa.transforms.limits;


/**
 * One open coordinator per spec per JVM, shared by every DoFn instance of a worker: one connection
 * pool and one heartbeat thread, opened by the first {@link #acquire} (in {@code @Setup}) and
 * closed by the last {@link #release} (in {@code @Teardown}).
 */
public final class SharedCoordinators {
  private static final String KIND = "coordinator";

  private SharedCoordinators() {}

  /** The open coordinator of {@code spec}; pair each call with one {@link #release}. */
  public static Coordinator acquire(Coordination spec) {
    return dev.moaa.transforms.SharedResources.acquire(KIND, spec.sharingKey(), spec::open, Coordinator::close);
  }

  public static void release(Coordination spec) {
    Coordinator open = dev.moaa.transforms.SharedResources.peek(KIND, spec.sharingKey());
    if (open != null) {
      dev.moaa.transforms.SharedResources.release(KIND, spec.sharingKey(), open);
    }
  }
}
