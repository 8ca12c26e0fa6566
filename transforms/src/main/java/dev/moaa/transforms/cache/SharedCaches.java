package dev.moaa.transforms.cache;


/**
 * One open cache per store per JVM, shared by every DoFn instance: the SQLite connection and the
 * Redis pool are opened by the first lease and closed by the last release.
 */
public final class SharedCaches {
  private static final String KIND = "response-cache";

  private SharedCaches() {}

  /** The open cache of {@code spec}; pair each call with one {@link #release}. */
  public static ResponseCache acquire(CacheSpec spec) throws CacheException {
    return dev.moaa.transforms.SharedResources.acquire(KIND, spec.sharingKey(), () -> ResponseCache.open(spec),
        ResponseCache::close);
  }

  public static void release(CacheSpec spec) {
    ResponseCache open = dev.moaa.transforms.SharedResources.peek(KIND, spec.sharingKey());
    if (open != null) {
      dev.moaa.transforms.SharedResources.release(KIND, spec.sharingKey(), open);
    }
  }
}
