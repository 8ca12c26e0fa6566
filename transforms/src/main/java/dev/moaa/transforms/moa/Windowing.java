package dev.moaa.transforms.moa;

import org.apache.beam.sdk.transforms.windowing.DefaultTrigger;
import org.apache.beam.sdk.transforms.windowing.Window;
import org.joda.time.Duration;

/** The windowing configuration the pipelines use, in the global window. */
public final class Windowing {
  private Windowing() {}

  /** Back to the default trigger, before a Flatten with other collections, a count or a sink. */
  public static <T> Window<T> restoreDefault() {
    return Window.<T>configure()
        .triggering(DefaultTrigger.of())
        .withAllowedLateness(Duration.ZERO)
        .discardingFiredPanes();
  }
}
