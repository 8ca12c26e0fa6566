package dev.moaa.pipelines;

import dev.moaa.transforms.clean.CleanConversations;
import dev.moaa.transforms.io.DeduplicateConversations;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.StreamingOptions;

/**
 * How many hash buckets the dedup and clean steps group by on the runner a pipeline is built for.
 * The DirectRunner pays per group (a bundle each) and holds every group in memory anyway: a few
 * large groups. A batch runner that sorts and spills its groups (Flink with {@code
 * --streaming=false}, what a corpus larger than memory runs on) holds only the group a step is
 * working on, so there the groups are many and small: with 16, the band comparison of one group
 * held a sixteenth of every band entry of the corpus (about 700 MB live at 1,000,000 prompts).
 */
final class GroupBuckets {
  private GroupBuckets() {}

  /** Buckets for a runner whose groups spill. */
  static final int SPILLING = 1024;

  static int of(PipelineOptions options) {
    boolean direct = options.getRunner() == null || "DirectRunner".equals(options.getRunner().getSimpleName());
    return !direct && !options.as(StreamingOptions.class).isStreaming() ? SPILLING
        : CleanConversations.DEFAULT_BUCKETS;
  }

  static DeduplicateConversations dedup(PipelineOptions options) {
    int n = of(options);
    return n == CleanConversations.DEFAULT_BUCKETS ? DeduplicateConversations.byId()
        : DeduplicateConversations.byId().withBuckets(n);
  }

  static CleanConversations clean(MoaaConfig config, PipelineOptions options) {
    return CleanConversations.of(config.clean()).withBuckets(of(options));
  }
}
