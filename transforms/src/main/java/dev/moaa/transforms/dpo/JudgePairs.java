package dev.moaa.transforms.dpo;

import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.moa.ClientFactory;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * Judges given ordered pairs with the DPO chain's judging code ({@link JudgePairsChainFn}): every
 * judge at once, then the strict majority ({@code single}, {@code jury}) or the lead judge ({@code
 * moa}). Input: {@link JudgeTask}s (answer A, answer B, the conversation and the criteria). Output:
 * one {@link Judgment} per task, with every vote, rationale and call; its verdict is null when a
 * reply stayed unreadable after one repair request, or a call failed after retries. Calls are
 * deterministic in what they send and keyed in the response cache as the DPO chain keys them, so a
 * rerun pays for nothing already answered.
 */
public final class JudgePairs extends PTransform<PCollection<JudgeTask>, PCollection<Judgment>> {
  private static final long serialVersionUID = 1L;
  private final DpoTopology topology;
  private final ClientFactory clients;

  private JudgePairs(DpoTopology topology, ClientFactory clients) {
    this.topology = topology;
    this.clients = java.util.Objects.requireNonNull(clients);
  }

  public static JudgePairs with(DpoTopology topology) {
    return new JudgePairs(topology, ClientFactory.http());
  }

  /** How the models' clients are made; the HTTP client unless given. */
  public JudgePairs withClientFactory(ClientFactory factory) {
    return new JudgePairs(topology, factory);
  }

  @Override
  public PCollection<Judgment> expand(PCollection<JudgeTask> tasks) {
    return tasks.apply("JudgeChain", ParDo.of(new JudgePairsChainFn(topology, clients))
            .withOutputTags(JudgePairsChainFn.JUDGED, TupleTagList.empty()))
        .get(JudgePairsChainFn.JUDGED).setCoder(AvroCoder.of(Judgment.class));
  }
}
