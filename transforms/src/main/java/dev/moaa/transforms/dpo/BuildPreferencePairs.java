package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.transforms.TwoOutputs;
import dev.moaa.transforms.moa.ClientFactory;
import java.util.Map;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * MoAA-DPO from conversations to preference rows: the prompt (the conversation up to its last user
 * turn) → K candidates from the policy and the prompt's criteria (when enabled) → every pair of
 * distinct candidates judged in both orders by every judge (and the lead judge in moa mode) →
 * scores → chosen = best, rejected = worst. Each prompt's chain runs asynchronously in {@link
 * DpoChainFn}: no per-key group or stateful gather between the stages, so no prompt waits for
 * another.
 *
 * <p>Every input ends as exactly one of: a {@link DpoRecord}; a {@link Dropped} row (every pair a
 * tie, no margin, margin below threshold, identical candidates); a {@link DeadLetter} (history
 * missing for a multi-turn prompt, the run's budget stopped a sampling or judge call, fewer than
 * two candidates, a failed judge call, a verdict unreadable after one repair).
 */
public final class BuildPreferencePairs extends PTransform<PCollection<Conversation>, BuildPreferencePairs.Result> {
  private static final long serialVersionUID = 1L;
  private final DpoTopology topology;
  private final String configHash;
  private final ClientFactory clients;

  private BuildPreferencePairs(DpoTopology topology, String configHash, ClientFactory clients) {
    this.topology = topology;
    this.configHash = configHash;
    this.clients = java.util.Objects.requireNonNull(clients);
  }

  public static BuildPreferencePairs with(DpoTopology topology) {
    return new BuildPreferencePairs(topology, "", ClientFactory.http());
  }

  public BuildPreferencePairs withConfigHash(String h) {
    return new BuildPreferencePairs(topology, h, clients);
  }

  /** How the models' clients are made; the HTTP client unless given. */
  public BuildPreferencePairs withClientFactory(ClientFactory factory) {
    return new BuildPreferencePairs(topology, configHash, factory);
  }

  @Override
  public Result expand(PCollection<Conversation> conversations) {
    AvroCoder<DeadLetter> deadCoder = AvroCoder.of(DeadLetter.class);
    AvroCoder<Dropped> droppedCoder = AvroCoder.of(Dropped.class);

    PCollectionTuple prompts = conversations.apply("ToPrompt", ParDo.of(new DpoFns.ToPromptFn())
        .withOutputTags(DpoFns.ToPromptFn.PROMPTS, TupleTagList.of(DpoFns.FAILED)));
    PCollectionTuple chains = prompts.get(DpoFns.ToPromptFn.PROMPTS).setCoder(AvroCoder.of(DpoWork.class))
        .apply("DpoChain", ParDo.of(new DpoChainFn(topology, configHash, clients))
            .withOutputTags(DpoChainFn.RECORDS, TupleTagList.of(DpoFns.FAILED).and(DpoFns.DROPPED)));

    PCollection<DeadLetter> failures = PCollectionList.of(prompts.get(DpoFns.FAILED).setCoder(deadCoder))
        .and(chains.get(DpoFns.FAILED).setCoder(deadCoder))
        .apply("FlattenFailures", Flatten.pCollections());
    PCollection<Dropped> dropped = chains.get(DpoFns.DROPPED).setCoder(droppedCoder);
    return new Result(chains.get(DpoChainFn.RECORDS).setCoder(AvroCoder.of(DpoRecord.class)), failures, dropped);
  }

  /** Preference rows, dead letters, and prompts dropped with a reason. */
  public static final class Result extends TwoOutputs<DpoRecord, DeadLetter> {
    private final PCollection<Dropped> dropped;

    Result(PCollection<DpoRecord> records, PCollection<DeadLetter> failures, PCollection<Dropped> dropped) {
      super(records, "records", failures, "failures");
      this.dropped = dropped;
    }

    public PCollection<DpoRecord> records() {
      return first();
    }

    public PCollection<DeadLetter> failures() {
      return second();
    }

    public PCollection<Dropped> dropped() {
      return dropped;
    }

    @Override
    public Map<TupleTag<?>, PValue> expand() {
      Map<TupleTag<?>, PValue> m = new java.util.HashMap<>(super.expand());
      m.put(new TupleTag<Dropped>("dropped"), dropped);
      return m;
    }
  }
}
