package dev.moaa.transforms.dpo;

import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.moa.ClientFactory;
import java.util.concurrent.CompletableFuture;
import org.apache.beam.sdk.values.TupleTag;

/**
 * Judge evaluation's chain: each given ordered pair ({@link JudgeTask}) judged exactly as the DPO
 * chain judges its sampled pairs ({@link JudgingChainFn#judgePair}), on the same chain skeleton.
 * Output ({@link #JUDGED}): one {@link Judgment} per task, with every vote, rationale and call; its
 * verdict is null when a reply stayed unreadable after one repair request or a call failed after
 * retries.
 */
public class JudgePairsChainFn extends JudgingChainFn<JudgeTask, Judgment, Judgment> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<Judgment> JUDGED = new TupleTag<>() {};

  public JudgePairsChainFn(DpoTopology topology, ClientFactory clients) {
    super(topology, judgeRoles(topology), "pair", clients);
  }

  @Override
  protected CompletableFuture<Judgment> start(JudgeTask task) {
    return judgePair(task);
  }

  @Override
  protected void emit(Judgment judgment, Outputs out) {
    out.output(JUDGED, judgment);
  }
}
