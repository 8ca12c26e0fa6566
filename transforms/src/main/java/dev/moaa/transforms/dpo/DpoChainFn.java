package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.CallMetrics;
import dev.moaa.transforms.moa.ClientFactory;
import dev.moaa.transforms.moa.Calls;
import dev.moaa.transforms.moa.SharedModelClients;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The whole DPO chain of each prompt, driven asynchronously: the K policy samples (or one call with
 * {@code n = K}) and the criteria call go out at once; when the samples are in, the candidates are
 * de-duplicated and every ordered pair of distinct candidates goes to every judge at once; as soon
 * as a pair's votes are in, its lead-judge call goes out (moa mode); when the prompt's last
 * judgment is in, the prompt is scored. No prompt waits for another one and no stage waits for the
 * whole of the previous stage, so every model's shared call pool ({@link SharedModelClients}: cache,
 * single-flight, budget, request gate) stays as busy as its limit allows.
 *
 * <p>Input: DPO prompts ({@link DpoWork} with conversation and prompt). Output: one {@link DpoRecord}
 * per labelled prompt ({@link #RECORDS}); a {@link Dropped} row ({@link DpoFns#DROPPED}: identical
 * candidates, all ties, position-inconsistent, no margin, margin below threshold); or a {@link
 * DeadLetter} ({@link DpoFns#FAILED}: the budget stopped a call, fewer than two candidates, a failed
 * judge call, a verdict unreadable after one repair). Every input ends in exactly one of the three.
 * Calls are deterministic in what they send and keyed in the cache as the staged graph keyed them.
 *
 * <p>A DoFn instance keeps at most {@code maxInFlight} prompts under way; past that, {@code
 * @ProcessElement} waits for one to finish. Finished prompts are emitted as they finish (from
 * {@code @ProcessElement} when they share the current element's window and timestamp, else at the
 * end of the bundle), and {@code @FinishBundle} waits for the rest. Each call is counted per model
 * ({@link CallMetrics}) as it ends, in the container of the DoFn's thread; {@code judged_pairs},
 * {@code position_inconsistent_pairs} and {@code prompts_in_flight} when a prompt is emitted.
 */
public class DpoChainFn extends JudgingChainFn<DpoWork, DpoChainFn.Outcome, DpoRecord> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<DpoRecord> RECORDS = new TupleTag<>() {};

  private final String configHash;
  private final Counter inconsistent = Metrics.counter(CallMetrics.NAMESPACE, "position_inconsistent_pairs");
  private final Counter judgedPairs = Metrics.counter(CallMetrics.NAMESPACE, "judged_pairs");

  private transient String criteriaTemplate;

  public DpoChainFn(DpoTopology topology, String configHash, ClientFactory clients) {
    super(topology, roles(topology), "prompt", clients);
    this.configHash = configHash;
  }

  /**
   * Every endpoint the chain calls, by role ({@code policy}, {@code criteria}, {@code judge/<i>},
   * {@code lead}): each role calls through a lease of its own endpoint, as the staged graph's DoFns
   * did, so what is sent (and its cache key) never depends on another role's settings.
   */
  static Map<String, ModelEndpoint> roles(DpoTopology t) {
    Map<String, ModelEndpoint> m = new LinkedHashMap<>();
    m.put("policy", t.policy());
    if (t.criteriaEnabled()) {
      m.put("criteria", t.criteriaModel());
    }
    m.putAll(judgeRoles(t));
    return m;
  }

  /** A prompt's end: exactly one of a row, a drop or a dead letter; and what the metrics count. */
  record Outcome(DpoRecord record, Dropped dropped, DeadLetter failed, int pairs, int inconsistentPairs) {
    static Outcome of(DpoSteps.Scored s) {
      return new Outcome(s.record(), s.dropped(), s.failed(), s.pairs(), s.inconsistentPairs());
    }
  }

  @Override
  protected void prepare() {
    super.prepare();
    criteriaTemplate = DpoSteps.criteriaTemplate();
  }

  /** Counts a finished prompt's pairs on the DoFn's thread (its calls were counted as they ended) and emits it. */
  @Override
  protected void emit(Outcome o, Outputs out) {
    judgedPairs.inc(o.pairs());
    inconsistent.inc(o.inconsistentPairs());
    if (o.record() != null) {
      out.output(RECORDS, o.record());
    } else if (o.dropped() != null) {
      out.output(DpoFns.DROPPED, o.dropped());
    } else {
      out.output(DpoFns.FAILED, o.failed());
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Override
  protected CompletableFuture<Outcome> start(DpoWork work) {
    CompletableFuture<DpoWork> sampled = sample(work);
    if (!topology.criteriaEnabled()) {
      return sampled.thenCompose(w -> judge(w));
    }
    // The criteria depend on the prompt alone: asked while the policy samples.
    ModelEndpoint m = topology.criteriaModel();
    CompletableFuture<Call> criteria = call("criteria", m, DpoSteps.criteriaRequest(topology, work), criteriaTemplate,
        "criteria", 0, 0);
    return sampled.thenCombine(criteria, (w, call) -> DpoSteps.withCriteria(topology, w, call))
        .thenCompose(w -> judge(w));
  }

  private CompletableFuture<DpoWork> sample(DpoWork work) {
    ModelEndpoint policy = topology.policy();
    if (topology.useN()) {
      return call("policy", policy, DpoSteps.sampleAllRequest(topology, work), null, "policy", 0, 0)
          .thenApply(call -> DpoSteps.sampledAll(topology, work, call));
    }
    List<CompletableFuture<Call>> samples = new ArrayList<>();
    for (int i = 0; i < topology.k(); i++) {
      samples.add(call("policy", policy, DpoSteps.sampleRequest(topology, work, i), null, "policy", 0, i));
    }
    return CompletableFuture.allOf(samples.toArray(CompletableFuture[]::new)).thenApply(done -> {
      List<Call> calls = new ArrayList<>();
      samples.forEach(f -> calls.add(f.join()));
      return DpoSteps.sampled(topology, work, calls);
    });
  }

  /** Every ordered pair judged at once; scored when the last judgment is in. */
  private CompletableFuture<Outcome> judge(DpoWork work) {
    DpoSteps.Expansion e = DpoSteps.expand(work);
    if (e.failed() != null || e.dropped() != null) {
      return CompletableFuture.completedFuture(new Outcome(null, e.dropped(), e.failed(), 0, 0));
    }
    List<CompletableFuture<Judgment>> judgments = new ArrayList<>();
    for (JudgeTask task : e.tasks()) {
      judgments.add(judgePair(task));
    }
    return CompletableFuture.allOf(judgments.toArray(CompletableFuture[]::new)).thenApply(done -> {
      List<Judgment> all = new ArrayList<>();
      judgments.forEach(f -> all.add(f.join()));
      return Outcome.of(DpoSteps.score(topology, configHash, DpoSteps.withJudgments(e.work(), all)));
    });
  }
}
