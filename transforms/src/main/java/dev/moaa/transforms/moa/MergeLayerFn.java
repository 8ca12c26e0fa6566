package dev.moaa.transforms.moa;

import dev.moaa.schemas.Ballot;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.TurnWork;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;

/**
 * Closes one layer of one turn: gathers its proposals in the configured proposer order, and either
 * hands the work on with the successful ones as references, or dead-letters the conversation when
 * fewer than {@code min_proposals} succeeded (reason {@code not_enough_proposals}).
 */
public class MergeLayerFn extends DoFn<KV<String, Iterable<Ballot>>, TurnWork> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<TurnWork> NEXT = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};

  private final MoaTopology topology;

  public MergeLayerFn(MoaTopology topology) {
    this.topology = topology;
  }

  @ProcessElement
  public void process(@Element KV<String, Iterable<Ballot>> group, MultiOutputReceiver out) {
    TurnWork work = null;
    List<Call> layer = new ArrayList<>();
    for (Ballot b : group.getValue()) {
      work = work == null ? b.getWork() : work;
      layer.add(b.getCall());
    }
    layer.sort(Comparator.comparingInt((Call c) -> topology.proposerIndex(c.getModel()))
        .thenComparing(Call::getModel));
    List<Call> ok = new ArrayList<>();
    for (Call c : layer) {
      if (c.getOk()) {
        ok.add(c);
      }
    }
    List<Call> all = new ArrayList<>(work.getProposals());
    all.addAll(layer);
    if (DeadLetters.refusedForBudget(layer)) {
      // Going on with fewer proposals would write a different answer than a run with budget left.
      out.get(FAILED).output(DeadLetters.forConversation("propose", DeadLetters.BUDGET,
          "the run's budget stopped proposals of layer " + work.getLayer() + " of turn " + work.getTurn()
              + "; " + DeadLetters.describeFailures(layer), work.getConversation(), work.getTurn(), all));
      return;
    }
    if (ok.size() < topology.minProposals()) {
      String why = ok.size() + " of " + topology.proposers().size() + " proposals succeeded in layer "
          + work.getLayer() + " of turn " + work.getTurn() + ", " + topology.minProposals()
          + " needed; " + DeadLetters.describeFailures(layer);
      out.get(FAILED).output(DeadLetters.forConversation("propose", "not_enough_proposals", why,
          work.getConversation(), work.getTurn(), all));
      return;
    }
    out.get(NEXT).output(TurnWork.newBuilder(work)
        .setLayer(work.getLayer() + 1)
        .setReferences(ok)
        .setProposals(all)
        .build());
  }
}
