package dev.moaa.transforms.cache;

import java.util.HashMap;
import java.util.Map;

/**
 * One open cache per store per JVM, shared by every DoFn instance: the SQLite connection and the
 * Redis pool are opened by the first lease and closed by the last release.
 */
public final class SharedCaches {
  private static final Map<String, Entry> OPEN = new HashMap<>();

  private SharedCaches() {}

  private static final class Entry {
    final ResponseCache cache;
    int leases;

    Entry(ResponseCache cache) {
      this.cache = cache;
    }
  }

  /** The open cache of {@code spec}; pair each call with one {@link #release}. */
  public static synchronized ResponseCache acquire(CacheSpec spec) throws CacheException {
    Entry e = OPEN.get(spec.sharingKey());
    if (e == null) {
      e = new Entry(ResponseCache.open(spec));
      OPEN.put(spec.sharingKey(), e);
    }
    e.leases++;
    return e.cache;
  }

  public static synchronized void release(CacheSpec spec) {
    Entry e = OPEN.get(spec.sharingKey());
    if (e != null && --e.leases == 0) {
      OPEN.remove(spec.sharingKey());
      e.cache.close();
    }
  }
}
