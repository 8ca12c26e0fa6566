package dev.moaa.transforms.limits;

/**
 * Even pacing of requests or tokens (the generic cell rate algorithm, in microseconds): a bucket
 * of {@link Coordinator#BURST_MS} ms worth of the rate (at least one unit) drains at the rate;
 * an amount fits when the bucket can take it, and one larger than the bucket fits only when it is
 * empty, so over a run the rate never passes the limit by more than one burst. The {@code tat}
 * (theoretical arrival time) is when the bucket will be empty. The same arithmetic runs as Lua in
 * {@link RedisScripts#ADMIT}.
 */
final class Pacing {
  private Pacing() {}

  /** Microseconds per unit at {@code perMinute} units a minute. */
  static double perUnitMicros(double perMinute) {
    return 60e6 / perMinute;
  }

  /** Microseconds to wait before {@code units} fit (0 or less: it fits now). */
  static double waitMicros(double tat, double now, double perUnit, long units) {
    double capacity = Math.max(Coordinator.BURST_MS * 1000.0, perUnit);
    double level = Math.max(0, tat - now);
    double need = Math.min(units * perUnit, capacity);
    return level + need - capacity;
  }

  /** The new {@code tat} once {@code units} are taken. */
  static double take(double tat, double now, double perUnit, long units) {
    return Math.max(tat, now) + units * perUnit;
  }
}
