package dev.moaa.runners.bench;

import java.io.IOException;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * CPU time, garbage collection and peak memory of this JVM over one measured interval: {@link
 * #start()} resets the memory pools' peaks (and the kernel's peak RSS where Linux allows it),
 * {@link #stop()} reads the deltas and peaks.
 */
final class ProcessProbe {

  /** What one interval cost the process. Memory in bytes; -1 where unavailable. */
  record Usage(double cpuSeconds, double gcSeconds, long gcCount, long peakHeapBytes, long peakNonHeapBytes,
      long maxHeapBytes, long peakRssBytes, boolean rssPeakReset) {}

  private static final Path STATUS = Paths.get("/proc/self/status");
  private static final Path CLEAR_REFS = Paths.get("/proc/self/clear_refs");

  private long cpuStart;
  private long gcTimeStart;
  private long gcCountStart;
  private boolean rssReset;

  static ProcessProbe start() {
    ProcessProbe p = new ProcessProbe();
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      pool.resetPeakUsage();
    }
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
    long heap = 0;
    long nonHeap = 0;
    for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
      if (pool.getPeakUsage() == null) {
        continue;
      }
      if (pool.getType() == MemoryType.HEAP) {
        heap += pool.getPeakUsage().getUsed();
      } else {
        nonHeap += pool.getPeakUsage().getUsed();
      }
    }
    return new Usage((cpuNanos() - cpuStart) / 1e9, (gcMillis() - gcTimeStart) / 1000.0, gcCount() - gcCountStart,
        heap, nonHeap, Runtime.getRuntime().maxMemory(), statusKb("VmHWM:") * 1024, rssReset);
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
