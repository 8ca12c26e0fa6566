package dev.moaa.transforms.moa;

import org.apache.beam.sdk.transforms.windowing.AfterPane;
import org.apache.beam.sdk.transforms.windowing.DefaultTrigger;
import org.apache.beam.sdk.transforms.windowing.Repeatedly;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.joda.time.Duration;

/** The two windowing configurations the pipelines use, both in the global window. */
public final class Windowing {
  private Windowing() {}

  /**
   * Fires a key's pane as soon as {@code count} elements arrived, so a group closes when its last
   * member arrives rather than at the end of the input. {@code FIRE_IF_NON_EMPTY} keeps the end of
   * input from firing a second, empty pane per key.
   */
  public static <T> Window<T> firstNPerKey(int count) {
    return Window.<T>configure()
        .triggering(Repeatedly.forever(AfterPane.elementCountAtLeast(count)))
        .withAllowedLateness(Duration.ZERO)
        .discardingFiredPanes()
        .withOnTimeBehavior(Window.OnTimeBehavior.FIRE_IF_NON_EMPTY);
  }

  /** Back to the default trigger, before a Flatten with other collections, a count or a sink. */
  public static <T> Window<T> restoreDefault() {
    return Window.<T>configure()
        .triggering(DefaultTrigger.of())
        .withAllowedLateness(Duration.ZERO)
        .discardingFiredPanes();
  }
}
