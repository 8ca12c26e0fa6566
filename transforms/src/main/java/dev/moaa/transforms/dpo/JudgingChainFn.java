package dev.moaa.transforms.dpo;

import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.ChainFn;
import dev.moaa.transforms.moa.ClientFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A chain that judges ordered pairs: the one place where a pair is judged, for the DPO chain
 * ({@link DpoChainFn}, pairs of sampled candidates) and for judge evaluation ({@link
 * JudgePairsChainFn}, labelled pairs). Every judge gets the pair at once (role {@code judge/<i>});
 * in {@code single} and {@code jury} mode the strict majority of their votes decides; in {@code moa}
 * mode, once every vote is in, the lead judge (role {@code lead}) reads their evaluations and
 * decides. A reply whose last line is not a verdict gets one repair request.
 *
 * @param <InT> the element that starts a chain
 * @param <OutcomeT> what a chain ends with
 * @param <OutT> the DoFn's main output
 */
abstract class JudgingChainFn<InT, OutcomeT, OutT> extends ChainFn<InT, OutcomeT, OutT> {
  private static final long serialVersionUID = 1L;

  protected final DpoTopology topology;

  private transient String judgeTemplate;
  private transient String leadTemplate;
  private transient String repairTemplate;

  JudgingChainFn(DpoTopology topology, Map<String, ModelEndpoint> endpoints, String unit, ClientFactory clients) {
    super(endpoints, unit, clients);
    this.topology = topology;
  }

  /** The judging roles: {@code judge/<i>} and, in moa mode, {@code lead}, each with its own lease. */
  static Map<String, ModelEndpoint> judgeRoles(DpoTopology t) {
    Map<String, ModelEndpoint> m = new LinkedHashMap<>();
    for (int i = 0; i < t.judges().size(); i++) {
      m.put("judge/" + i, t.judges().get(i));
    }
    if (t.mode() == JudgeMode.MOA) {
      m.put("lead", t.lead());
    }
    return m;
  }

  @Override
  protected void prepare() {
    judgeTemplate = DpoSteps.judgeTemplate();
    leadTemplate = DpoSteps.leadTemplate();
    repairTemplate = DpoSteps.repairTemplate();
  }

  /** One ordered pair: every judge at once, then (moa) the lead judge over their evaluations. */
  protected final CompletableFuture<Judgment> judgePair(JudgeTask task) {
    ChatRequest request = DpoSteps.judgeRequest(task);
    List<CompletableFuture<JudgeVote>> votes = together(topology.judges().size(), i -> {
      ModelEndpoint judge = topology.judges().get(i);
      return call("judge/" + i, judge, request, judgeTemplate, "judge", task.getFirst(), task.getSecond(),
          JudgePrompts.verdictRepair(request), repairTemplate)
          .thenApply(calls -> DpoSteps.vote(judge.name(), calls));
    });
    return CompletableFuture.allOf(votes.toArray(CompletableFuture[]::new)).thenCompose(done -> {
      List<JudgeVote> all = new ArrayList<>();
      votes.forEach(f -> all.add(f.join()));
      JudgeTask voted = DpoSteps.withVotes(topology, task, all);
      if (topology.mode() != JudgeMode.MOA) {
        return CompletableFuture.completedFuture(DpoSteps.pooled(voted));
      }
      ChatRequest lead = DpoSteps.leadRequest(voted);
      if (lead == null) {
        // a judge call failed outright: nothing for the lead judge to read
        return CompletableFuture.completedFuture(DpoSteps.withoutLead(voted));
      }
      ModelEndpoint m = topology.lead();
      return call("lead", m, lead, leadTemplate, "lead_judge", task.getFirst(), task.getSecond(),
          JudgePrompts.verdictRepair(lead), repairTemplate)
          .thenApply(calls -> DpoSteps.decided(voted, DpoSteps.vote(m.name(), calls)));
    });
  }
}
