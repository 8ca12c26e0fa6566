package dev.moaa.transforms.moa;

import dev.moaa.transforms.TwoOutputs;
import dev.moaa.schemas.Ballot;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.SftRecord;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptor;

/**
 * MoAA-SFT: every user turn of every conversation answered by the proposers, layer by layer, and
 * synthesized by the aggregator. The graph is unrolled: for each turn up to {@code max_turns} and
 * each layer, one {@code Propose/<model>} branch per proposer, a per-key group that closes as soon
 * as all proposals of a (conversation, turn, layer) have arrived, and for the last layer an {@code
 * Aggregate} step. Turn {@code t} is asked with the synthesized answers of turns before it.
 *
 * <p>Input: normalized conversations. Output: one {@link SftRecord} per conversation whose every
 * turn succeeded ({@link Result#records()}) and one {@link DeadLetter} per conversation that did
 * not ({@link Result#failures()}): not enough proposals, a failed or truncated aggregate, or more
 * turns than the graph was unrolled for. Every input ends in exactly one of the two. Calls are
 * deterministic in what they send; they are not idempotent in cost: a runner retrying a bundle
 * repeats its calls.
 */
public final class SynthesizeConversations
    extends PTransform<PCollection<Conversation>, SynthesizeConversations.Result> {
  private static final long serialVersionUID = 1L;

  private final MoaTopology topology;
  private final String configHash;

  private SynthesizeConversations(MoaTopology topology, String configHash) {
    this.topology = Objects.requireNonNull(topology);
    this.configHash = Objects.requireNonNull(configHash);
  }

  public static SynthesizeConversations of(MoaTopology topology) {
    return new SynthesizeConversations(topology, "");
  }

  /** Recorded in every row, to tie it to the configuration that made it. */
  public SynthesizeConversations withConfigHash(String hash) {
    return new SynthesizeConversations(topology, hash);
  }

  @Override
  public Result expand(PCollection<Conversation> conversations) {
    AvroCoder<TurnWork> workCoder = AvroCoder.of(TurnWork.class);
    AvroCoder<DeadLetter> deadCoder = AvroCoder.of(DeadLetter.class);
    KvCoder<String, Ballot> ballotCoder = KvCoder.of(StringUtf8Coder.of(), AvroCoder.of(Ballot.class));
    int proposers = topology.proposers().size();

    PCollection<TurnWork> current = conversations
        .apply("StartWork", MapElements.into(TypeDescriptor.of(TurnWork.class)).via(SynthesizeConversations::start))
        .setCoder(workCoder);
    List<PCollection<TurnWork>> completed = new ArrayList<>();
    List<PCollection<DeadLetter>> failed = new ArrayList<>();

    for (int turn = 0; turn < topology.maxTurns(); turn++) {
      String t = "Turn" + (turn + 1);
      for (int layer = 1; layer <= topology.layers(); layer++) {
        String l = t + "/Layer" + layer;
        List<PCollection<KV<String, Ballot>>> branches = new ArrayList<>();
        for (ModelEndpoint p : topology.proposers()) {
          branches.add(current
              .apply(l + "/Propose/" + p.name(),
                  ParDo.of(new ProposeFn(p, topology.refineTemplate()))
                      .withOutputTags(ProposeFn.BALLOTS, TupleTagList.empty()))
              .get(ProposeFn.BALLOTS)
              .setCoder(ballotCoder));
        }
        PCollectionTuple merged = PCollectionList.of(branches)
            .apply(l + "/FlattenProposals", Flatten.pCollections())
            .apply(l + "/CloseWhenAllArrived", Windowing.firstNPerKey(proposers))
            .apply(l + "/GroupProposals", GroupByKey.create())
            .apply(l + "/Merge", ParDo.of(new MergeLayerFn(topology))
                .withOutputTags(MergeLayerFn.NEXT, TupleTagList.of(MergeLayerFn.FAILED)));
        failed.add(merged.get(MergeLayerFn.FAILED).setCoder(deadCoder)
            .apply(l + "/RestoreTriggerFailed", Windowing.restoreDefault()));
        current = merged.get(MergeLayerFn.NEXT).setCoder(workCoder)
            .apply(l + "/RestoreTrigger", Windowing.restoreDefault());
      }
      PCollectionTuple aggregated = current.apply(t + "/Aggregate",
          ParDo.of(new AggregateFn(topology)).withOutputTags(AggregateFn.NEXT_TURN,
              TupleTagList.of(AggregateFn.COMPLETED).and(AggregateFn.FAILED)));
      completed.add(aggregated.get(AggregateFn.COMPLETED).setCoder(workCoder));
      failed.add(aggregated.get(AggregateFn.FAILED).setCoder(deadCoder));
      current = aggregated.get(AggregateFn.NEXT_TURN).setCoder(workCoder);
    }
    // Conversations longer than the unrolled graph are normally refused when read; any that get
    // here still end as dead letters rather than vanish.
    failed.add(current.apply("TooManyTurns", MapElements.into(TypeDescriptor.of(DeadLetter.class))
        .via(w -> DeadLetters.forConversation("propose", "too_many_turns",
            "more than max_turns=" + topology.maxTurns() + " user turns", w.getConversation(), w.getTurn(), w.getProposals())))
        .setCoder(deadCoder));

    PCollection<SftRecord> records = PCollectionList.of(completed)
        .apply("FlattenCompleted", Flatten.pCollections())
        .apply("BuildSftRecord", ParDo.of(new BuildSftRecordFn(topology, configHash)))
        .setCoder(AvroCoder.of(SftRecord.class));
    PCollection<DeadLetter> failures = PCollectionList.of(failed)
        .apply("FlattenFailures", Flatten.pCollections())
        .setCoder(deadCoder);
    return new Result(records, failures);
  }

  private static TurnWork start(Conversation c) {
    return TurnWork.newBuilder()
        .setConversation(c)
        .setTurn(0)
        .setLayer(1)
        .setHistory(List.of())
        .setReferences(List.of())
        .setProposals(List.of())
        .setDone(List.of())
        .build();
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
