package dev.moaa.transforms.io;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.Dropped;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Keeps one conversation per id: the first by (source, line); every other one is emitted as a
 * {@link Dropped} row with reason {@code duplicate_id} naming the one kept. Since an id without an
 * explicit id field is a hash of the content, this also removes exact duplicates. Deterministic.
 *
 * <p>Conversations are grouped into a fixed number of hash buckets of their id rather than one
 * group per id. Besides the smaller shuffle, this sets how work enters the model-calling steps: one
 * group per id would hand them one bundle per conversation all at once, and on the DirectRunner
 * (FIFO worker queue) every proposer bundle would then be queued ahead of every aggregator bundle,
 * a barrier between the stages. A few dozen medium bundles let the stages overlap.
 */
public final class DeduplicateConversations
    extends PTransform<PCollection<Conversation>, KeptAndDropped> {
  private static final long serialVersionUID = 1L;
  private static final TupleTag<Conversation> KEPT = new TupleTag<>() {};
  private static final TupleTag<Dropped> DROPPED = new TupleTag<>() {};

  /** The default number of buckets. */
  public static final int DEFAULT_BUCKETS = 16;

  private final int buckets;

  private DeduplicateConversations(int buckets) {
    if (buckets < 1) {
      throw new IllegalArgumentException("buckets must be at least 1, got " + buckets);
    }
    this.buckets = buckets;
  }

  public static DeduplicateConversations byId() {
    return new DeduplicateConversations(DEFAULT_BUCKETS);
  }

  public DeduplicateConversations withBuckets(int n) {
    return new DeduplicateConversations(n);
  }

  @Override
  public KeptAndDropped expand(PCollection<Conversation> input) {
    int n = buckets;
    PCollectionTuple out = input
        .apply("KeyByIdBucket", WithKeys.of((Conversation c) -> Math.floorMod(c.getId().hashCode(), n))
            .withKeyType(TypeDescriptors.integers()))
        .setCoder(KvCoder.of(VarIntCoder.of(), AvroCoder.of(Conversation.class)))
        .apply("GroupByIdBucket", GroupByKey.create())
        .apply("KeepFirst", ParDo.of(new KeepFirstFn()).withOutputTags(KEPT, TupleTagList.of(DROPPED)));
    return new KeptAndDropped(
        out.get(KEPT).setCoder(AvroCoder.of(Conversation.class)),
        out.get(DROPPED).setCoder(AvroCoder.of(Dropped.class)));
  }

  static class KeepFirstFn extends DoFn<KV<Integer, Iterable<Conversation>>, Conversation> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<Integer, Iterable<Conversation>> bucket, MultiOutputReceiver out) {
      List<Conversation> all = new ArrayList<>();
      bucket.getValue().forEach(all::add);
      all.sort(Comparator.comparing(Conversation::getId).thenComparing(Conversation::getSource)
          .thenComparingLong(Conversation::getLine));
      Conversation kept = null;
      for (Conversation c : all) {
        if (kept == null || !kept.getId().equals(c.getId())) {
          kept = c;
          out.get(KEPT).output(c);
          continue;
        }
        out.get(DROPPED).output(Dropped.newBuilder()
            .setReason("duplicate_id")
            .setId(c.getId())
            .setSource(c.getSource())
            .setLine(c.getLine())
            .setDetail("same id as " + kept.getSource() + " line " + kept.getLine())
            .build());
      }
    }
  }
}
