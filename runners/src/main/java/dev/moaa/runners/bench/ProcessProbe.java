package dev.moaa.runners.bench;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.ListenerNotFoundException;
import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;

/**
 * CPU time, garbage collection and memory of this JVM over one measured interval: {@link #start()}
 * resets the non-heap pools' peaks (and the kernel's peak RSS where Linux allows it) and starts
 * watching the heap, {@link #stop()} reads the deltas and peaks.
 *
 * <p>Two heap figures: the peak of the heap in use, sampled every {@value #SAMPLE_MS} ms (garbage
 * not yet collected included, so it mostly shows how far the collector let the heap fill), and the
 * heap still in use after each collection (the live data and what survived with it): its peak, and
 * its highest value in each quarter of the interval, which show whether what the process holds
 * grows with the work or stays flat.
 */
final class ProcessProbe {
  static final long SAMPLE_MS = 100;

  /** What one interval cost the process. Memory in bytes; -1 where unavailable. */
  record Usage(double cpuSeconds, double gcSeconds, long gcCount, long peakHeapBytes, long peakNonHeapBytes,
      long maxHeapBytes, long peakRssBytes, boolean rssPeakReset, long peakHeapAfterGcBytes,
      List<Long> heapAfterGcByQuarterBytes) {}

  /** Heap in use after one collection, at a time since {@link #start()}. */
  private record AfterGc(long nanos, long bytes) {}

  private static final Path STATUS = Paths.get("/proc/self/status");
  private static final Path CLEAR_REFS = Paths.get("/proc/self/clear_refs");

  private long cpuStart;
  private long gcTimeStart;
  private long gcCountStart;
  private boolean rssReset;
  private long t0;
  private final AtomicLong peakHeap = new AtomicLong();
  private final List<AfterGc> afterGc = new ArrayList<>();
  private final List<NotificationEmitter> emitters = new ArrayList<>();
  private final NotificationListener onGc = this::onGc;
  private Thread sampler;
  private volatile boolean sampling;

  static ProcessProbe start() {
    ProcessProbe p = new ProcessProbe();
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      pool.resetPeakUsage();
    }
    p.t0 = System.nanoTime();
    p.peakHeap.set(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof NotificationEmitter e) {
        e.addNotificationListener(p.onGc, null, null);
        p.emitters.add(e);
      }
    }
    p.sampling = true;
    p.sampler = new Thread(p::sample, "bench-heap-sampler");
    p.sampler.setDaemon(true);
    p.sampler.start();
    // Writing 5 resets the peak resident set size (VmHWM) to the current RSS (Linux 4.0+).
    try {
      Files.writeString(CLEAR_REFS, "5");
      p.rssReset = true;
    } catch (IOException | RuntimeException e) {
      p.rssReset = false;
    }
    p.cpuStart = cpuNanos();
    p.gcTimeStart = gcMillis();
    p.gcCountStart = gcCount();
    return p;
  }

  Usage stop() {
    long t1 = System.nanoTime();
    sampling = false;
    sampler.interrupt();
    try {
      sampler.join(1000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (NotificationEmitter e : emitters) {
      try {
        e.removeNotificationListener(onGc);
      } catch (ListenerNotFoundException ignored) {
        // already gone
      }
    }
    long nonHeap = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getPeakUsage() != null && pool.getType() == MemoryType.NON_HEAP) {
        nonHeap += pool.getPeakUsage().getUsed();
      }
    }
    List<AfterGc> collections;
    synchronized (afterGc) {
      collections = List.copyOf(afterGc);
    }
    long peakAfterGc = -1;
    List<Long> quarters = new ArrayList<>(List.of(-1L, -1L, -1L, -1L));
    double span = Math.max(1, t1 - t0);
    for (AfterGc a : collections) {
      peakAfterGc = Math.max(peakAfterGc, a.bytes());
      int q = (int) Math.min(3, Math.max(0, Math.floor(4 * (a.nanos() - t0) / span)));
      quarters.set(q, Math.max(quarters.get(q), a.bytes()));
    }
    return new Usage((cpuNanos() - cpuStart) / 1e9, (gcMillis() - gcTimeStart) / 1000.0, gcCount() - gcCountStart,
        peakHeap.get(), nonHeap, Runtime.getRuntime().maxMemory(), statusKb("VmHWM:") * 1024, rssReset,
        peakAfterGc, List.copyOf(quarters));
  }

  private void sample() {
    while (sampling) {
      long used = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
      peakHeap.accumulateAndGet(used, Math::max);
      try {
        Thread.sleep(SAMPLE_MS);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private void onGc(Notification n, Object handback) {
    if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
      return;
    }
    GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData());
    long used = 0;
    for (Map.Entry<String, MemoryUsage> pool : info.getGcInfo().getMemoryUsageAfterGc().entrySet()) {
      if (HEAP_POOLS.contains(pool.getKey())) {
        used += pool.getValue().getUsed();
      }
    }
    synchronized (afterGc) {
      afterGc.add(new AfterGc(System.nanoTime(), used));
    }
  }

  private static final Set<String> HEAP_POOLS = heapPools();

  private static Set<String> heapPools() {
    Set<String> names = new HashSet<>();
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getType() == MemoryType.HEAP) {
        names.add(pool.getName());
      }
    }
    return names;
  }

  /** Process CPU time (all threads, user + system) in ns, or -1 when the JVM does not offer it. */
  static long cpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    return -1;
  }

  private static long gcMillis() {
    long sum = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      sum += Math.max(0, gc.getCollectionTime());
    }
    return sum;
  }

  private static long gcCount() {
    long sum = 0;
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      sum += Math.max(0, gc.getCollectionCount());
    }
    return sum;
  }

  /** A {@code kB} field of /proc/self/status, or -1/1024 rounded to -1 when absent. */
  private static long statusKb(String field) {
    try {
      for (String line : Files.readAllLines(STATUS)) {
        if (line.startsWith(field)) {
          return Long.parseLong(line.substring(field.length()).trim().split("\\s+")[0]);
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or /proc not mounted
    }
    return -1;
  }
}
