package dev.moaa.transforms.moa;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.SftRecord;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.TwoOutputs;
import java.util.Objects;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * MoAA-SFT: every user turn of every conversation answered by the proposers, layer by layer, and
 * synthesized by the aggregator, each conversation's chain driven by {@link MoaChainFn} so that no
 * conversation waits for another (no barrier between proposers and aggregator). Turn {@code t} is
 * asked with the synthesized answers of turns before it.
 *
 * <p>Input: normalized conversations. Output: one {@link SftRecord} per conversation whose every
 * turn succeeded ({@link Result#records()}) and one {@link DeadLetter} per conversation that did
 * not ({@link Result#failures()}): not enough proposals, a failed or truncated aggregate, or more
 * user turns than the topology's {@code max_turns}. Every input ends in exactly one of the two. Calls are
 * deterministic in what they send; they are not idempotent in cost: a runner retrying a bundle
 * repeats its calls.
 */
public final class SynthesizeConversations
    extends PTransform<PCollection<Conversation>, SynthesizeConversations.Result> {
  private static final long serialVersionUID = 1L;

  private final MoaTopology topology;
  private final String configHash;
  private final ClientFactory clients;

  private SynthesizeConversations(MoaTopology topology, String configHash, ClientFactory clients) {
    this.topology = Objects.requireNonNull(topology);
    this.configHash = Objects.requireNonNull(configHash);
    this.clients = Objects.requireNonNull(clients);
  }

  public static SynthesizeConversations of(MoaTopology topology) {
    return new SynthesizeConversations(topology, "", ClientFactory.http());
  }

  /** Recorded in every row, to tie it to the configuration that made it. */
  public SynthesizeConversations withConfigHash(String hash) {
    return new SynthesizeConversations(topology, hash, clients);
  }

  /** How the models' clients are made; the HTTP client unless given. */
  public SynthesizeConversations withClientFactory(ClientFactory factory) {
    return new SynthesizeConversations(topology, configHash, factory);
  }

  @Override
  public Result expand(PCollection<Conversation> conversations) {
    PCollectionTuple chains = conversations.apply("MoaChain",
        ParDo.of(new MoaChainFn(topology, clients)).withOutputTags(MoaChainFn.COMPLETED, TupleTagList.of(MoaChainFn.FAILED)));
    PCollection<SftRecord> records = chains.get(MoaChainFn.COMPLETED).setCoder(AvroCoder.of(TurnWork.class))
        .apply("BuildSftRecord", ParDo.of(new BuildSftRecordFn(topology, configHash)))
        .setCoder(AvroCoder.of(SftRecord.class));
    PCollection<DeadLetter> failures = chains.get(MoaChainFn.FAILED).setCoder(AvroCoder.of(DeadLetter.class));
    return new Result(records, failures);
  }

  /** The rows and the dead letters of a synthesis. */
  public static final class Result extends TwoOutputs<SftRecord, DeadLetter> {
    Result(PCollection<SftRecord> records, PCollection<DeadLetter> failures) {
      super(records, "records", failures, "failures");
    }

    public PCollection<SftRecord> records() {
      return first();
    }

    public PCollection<DeadLetter> failures() {
      return second();
    }
  }
}
