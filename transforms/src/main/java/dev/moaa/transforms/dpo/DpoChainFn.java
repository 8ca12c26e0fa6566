package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.CallMetrics;
import dev.moaa.transforms.moa.ChainsInFlight;
import dev.moaa.transforms.moa.Calls;
import dev.moaa.transforms.moa.ModelCallFn;
import dev.moaa.transforms.moa.SharedModelClients;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Function;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsContainer;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
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
public class DpoChainFn extends DoFn<DpoWork, DpoRecord> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<DpoRecord> RECORDS = new TupleTag<>() {};

  private final DpoTopology topology;
  private final String configHash;
  private final int maxInFlight;
  private final Map<String, CallMetrics> metrics = new HashMap<>();
  private final Counter inconsistent = Metrics.counter(ModelCallFn.NAMESPACE, "position_inconsistent_pairs");
  private final Counter judgedPairs = Metrics.counter(ModelCallFn.NAMESPACE, "judged_pairs");
  private final Distribution promptsInFlight = Metrics.distribution(ModelCallFn.NAMESPACE, "prompts_in_flight");

  private transient Map<String, SharedModelClients.Lease> leases;
  private transient String judgeTemplate;
  private transient String leadTemplate;
  private transient String repairTemplate;
  private transient String criteriaTemplate;
  private transient ChainsInFlight<Finished> chains;
  private transient volatile MetricsContainer container;

  public DpoChainFn(DpoTopology topology, String configHash) {
    this.topology = topology;
    this.configHash = configHash;
    Map<String, Integer> limits = new LinkedHashMap<>();
    for (ModelEndpoint m : roles(topology).values()) {
      metrics.putIfAbsent(m.name(), new CallMetrics(m));
      limits.putIfAbsent(m.name(), m.maxConcurrency());
    }
    int calls = limits.values().stream().mapToInt(Integer::intValue).sum();
    // Enough prompts to fill every model's limit twice over, whatever stage they are in.
    this.maxInFlight = Math.max(16, 2 * calls);
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
    for (int i = 0; i < t.judges().size(); i++) {
      m.put("judge/" + i, t.judges().get(i));
    }
    if (t.mode() == JudgeMode.MOA) {
      m.put("lead", t.lead());
    }
    return m;
  }

  /** A prompt's end: exactly one of a row, a drop or a dead letter; and what the metrics count. */
  private record Outcome(DpoRecord record, Dropped dropped, DeadLetter failed, int pairs, int inconsistentPairs) {
    static Outcome of(DpoSteps.Scored s) {
      return new Outcome(s.record(), s.dropped(), s.failed(), s.pairs(), s.inconsistentPairs());
    }
  }

  /** A prompt's end and every call it made (filled from the pool threads before the end). */
  private record Finished(Outcome outcome, Queue<Call> calls) {}

  @Setup
  public void setup() {
    leases = new HashMap<>();
    roles(topology).forEach((role, m) -> leases.put(role, SharedModelClients.acquire(m)));
    judgeTemplate = DpoSteps.judgeTemplate();
    leadTemplate = DpoSteps.leadTemplate();
    repairTemplate = DpoSteps.repairTemplate();
    criteriaTemplate = DpoSteps.criteriaTemplate();
  }

  @StartBundle
  public void startBundle() {
    chains = new ChainsInFlight<>(maxInFlight, "prompt");
    container = CallMetrics.currentContainer();
  }

  @ProcessElement
  public void processElement(ProcessContext c, BoundedWindow window) throws InterruptedException {
    container = CallMetrics.currentContainer();
    Queue<Call> calls = new ConcurrentLinkedQueue<>();
    CompletableFuture<Finished> chain = start(c.element(), calls).thenApply(o -> new Finished(o, calls));
    promptsInFlight.update(chains.add(chain, c.timestamp(), window, f -> {
      Outcome o = tally(f);
      if (o.record() != null) {
        c.output(RECORDS, o.record());
      } else if (o.dropped() != null) {
        c.output(DpoFns.DROPPED, o.dropped());
      } else {
        c.output(DpoFns.FAILED, o.failed());
      }
    }));
  }

  @FinishBundle
  public void finishBundle(FinishBundleContext c) {
    chains.drain((f, timestamp, window) -> {
      Outcome o = tally(f);
      if (o.record() != null) {
        c.output(RECORDS, o.record(), timestamp, window);
      } else if (o.dropped() != null) {
        c.output(DpoFns.DROPPED, o.dropped(), timestamp, window);
      } else {
        c.output(DpoFns.FAILED, o.failed(), timestamp, window);
      }
    });
  }

  /** Counts a finished prompt's pairs on the DoFn's thread (its calls were counted as they ended); returns its outcome. */
  private Outcome tally(Finished f) {
    judgedPairs.inc(f.outcome().pairs());
    inconsistent.inc(f.outcome().inconsistentPairs());
    return f.outcome();
  }

  // ---------------------------------------------------------------------------------------------

  private CompletableFuture<Outcome> start(DpoWork work, Queue<Call> made) {
    CompletableFuture<DpoWork> sampled = sample(work, made);
    if (!topology.criteriaEnabled()) {
      return sampled.thenCompose(w -> judge(w, made));
    }
    // The criteria depend on the prompt alone: asked while the policy samples.
    ModelEndpoint m = topology.criteriaModel();
    CompletableFuture<Call> criteria = call("criteria", m, DpoSteps.criteriaRequest(topology, work), criteriaTemplate,
        "criteria", 0, 0, null, null, made).thenApply(calls -> calls.get(0));
    return sampled.thenCombine(criteria, (w, call) -> DpoSteps.withCriteria(topology, w, call))
        .thenCompose(w -> judge(w, made));
  }

  private CompletableFuture<DpoWork> sample(DpoWork work, Queue<Call> made) {
    ModelEndpoint policy = topology.policy();
    if (topology.useN()) {
      return call("policy", policy, DpoSteps.sampleAllRequest(topology, work), null, "policy", 0, 0, null, null, made)
          .thenApply(calls -> DpoSteps.sampledAll(topology, work, calls.get(0)));
    }
    List<CompletableFuture<List<Call>>> samples = new ArrayList<>();
    for (int i = 0; i < topology.k(); i++) {
      samples.add(call("policy", policy, DpoSteps.sampleRequest(topology, work, i), null, "policy", 0, i, null, null, made));
    }
    return CompletableFuture.allOf(samples.toArray(CompletableFuture[]::new)).thenApply(done -> {
      List<Call> calls = new ArrayList<>();
      samples.forEach(f -> calls.add(f.join().get(0)));
      return DpoSteps.sampled(topology, work, calls);
    });
  }

  /** Every ordered pair judged at once; scored when the last judgment is in. */
  private CompletableFuture<Outcome> judge(DpoWork work, Queue<Call> made) {
    DpoSteps.Expansion e = DpoSteps.expand(work);
    if (e.failed() != null || e.dropped() != null) {
      return CompletableFuture.completedFuture(new Outcome(null, e.dropped(), e.failed(), 0, 0));
    }
    List<CompletableFuture<Judgment>> judgments = new ArrayList<>();
    for (JudgeTask task : e.tasks()) {
      judgments.add(judgePair(task, made));
    }
    return CompletableFuture.allOf(judgments.toArray(CompletableFuture[]::new)).thenApply(done -> {
      List<Judgment> all = new ArrayList<>();
      judgments.forEach(f -> all.add(f.join()));
      return Outcome.of(DpoSteps.score(topology, configHash, DpoSteps.withJudgments(e.work(), all)));
    });
  }

  /** One ordered pair: every judge at once, then (moa) the lead judge over their evaluations. */
  private CompletableFuture<Judgment> judgePair(JudgeTask task, Queue<Call> made) {
    ChatRequest request = DpoSteps.judgeRequest(task);
    List<CompletableFuture<JudgeVote>> votes = new ArrayList<>();
    for (int i = 0; i < topology.judges().size(); i++) {
      ModelEndpoint judge = topology.judges().get(i);
      votes.add(call("judge/" + i, judge, request, judgeTemplate, "judge", task.getFirst(), task.getSecond(),
          JudgePrompts.verdictRepair(request), repairTemplate, made)
          .thenApply(calls -> DpoSteps.vote(judge.name(), calls)));
    }
    return CompletableFuture.allOf(votes.toArray(CompletableFuture[]::new)).thenCompose(done -> {
      List<JudgeVote> all = new ArrayList<>();
      votes.forEach(f -> all.add(f.join()));
      JudgeTask voted = DpoSteps.withVotes(topology, task, all);
      if (topology.mode() != JudgeMode.MOA) {
        return CompletableFuture.completedFuture(DpoSteps.pooled(voted));
      }
      ChatRequest lead = DpoSteps.leadRequest(voted);
      if (lead == null) {
        return CompletableFuture.completedFuture(DpoSteps.withoutLead(voted));
      }
      ModelEndpoint m = topology.lead();
      return call("lead", m, lead, leadTemplate, "lead_judge", task.getFirst(), task.getSecond(),
          JudgePrompts.verdictRepair(lead), repairTemplate, made)
          .thenApply(calls -> DpoSteps.decided(voted, DpoSteps.vote(m.name(), calls)));
    });
  }

  /** Queues one call (and its repair, when the answer needs one) on the model's shared pool. */
  private CompletableFuture<List<Call>> call(String roleKey, ModelEndpoint m, ChatRequest request, String template, String role,
      int turn, int layer, Function<String, ChatRequest> repair, String repairTemplate, Queue<Call> made) {
    String hash = Calls.requestHash(m, request, template);
    SharedModelClients.Lease lease = leases.get(roleKey);
    MetricsContainer into = container;
    return lease.submit(request, hash, repair, repairTemplate).thenApply(o -> {
      List<Call> calls = Calls.of(m, role, turn, layer, template, request, hash, repairTemplate, o);
      for (Call call : calls) {
        metrics.get(call.getModel()).record(call, into, lease);
      }
      made.addAll(calls);
      return calls;
    });
  }

  @Teardown
  public void teardown() {
    if (leases != null) {
      leases.values().forEach(SharedModelClients.Lease::release);
      leases = null;
    }
  }
}
