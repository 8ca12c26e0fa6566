package dev.moaa.runners.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a workload must cost at the least, before it runs: the successful calls each model has to
 * serve and the time bounds that follow from them.
 *
 * <p>With per-call latency L (the mean of the latency distribution) and a cap C per model, a
 * model that serves n calls is busy at least n·L/C. <b>Overlap bound</b>: max over models of
 * n·L/C, plus one chain of dependent calls (SFT: turns × (layers + 1) calls; DPO: policy sample →
 * criteria → judge → lead judge = 4 calls). <b>Barrier bound</b>: each stage waits for the previous
 * one, so the stages' times add up (SFT: every turn's layers and aggregator; DPO: policy, criteria,
 * judges, lead judge), each at least ceil(calls/C) rounds of L.
 *
 * @param calls successful calls per model name (simulator model ids), in stage order
 * @param chainCalls dependent calls on the longest path of one prompt
 * @param stageCalls for the barrier bound: the calls of the busiest model of each stage, in order
 */
public record WorkloadPlan(Map<String, Long> calls, int chainCalls, List<Long> stageCalls, String formula) {

  public static final String AGGREGATOR = "sim-aggregator";
  public static final String POLICY = "sim-policy";
  public static final String LEAD = "sim-judge-lead";

  public static String proposer(int i) {
    return "sim-proposer-" + i;
  }

  public static String judge(int i) {
    return "sim-judge-" + i;
  }

  /** Whether conversation {@code i} of the input has two user turns: spread evenly, floor(N·share) in all. */
  public static boolean twoTurns(int i, double share) {
    return Math.floor((i + 1) * share) > Math.floor(i * share);
  }

  /** SFT: P proposers in each of {@code layers} layers and one aggregator, per user turn. */
  public static WorkloadPlan sft(int prompts, int proposers, int layers, double twoTurnShare) {
    long secondTurns = 0;
    for (int i = 0; i < prompts; i++) {
      secondTurns += twoTurns(i, twoTurnShare) ? 1 : 0;
    }
    long turns = prompts + secondTurns;
    int maxTurns = secondTurns > 0 ? 2 : 1;
    Map<String, Long> calls = new LinkedHashMap<>();
    for (int i = 1; i <= proposers; i++) {
      calls.put(proposer(i), turns * layers);
    }
    calls.put(AGGREGATOR, turns);
    List<Long> stages = new java.util.ArrayList<>();
    for (long n : secondTurns > 0 ? List.of((long) prompts, secondTurns) : List.of((long) prompts)) {
      for (int l = 0; l <= layers; l++) {
        stages.add(n);
      }
    }
    return new WorkloadPlan(calls, maxTurns * (layers + 1), List.copyOf(stages),
        "overlap: max over models of calls*L/C + turns*(layers+1)*L; barrier: sum over turns of (layers+1)*ceil(prompts_in_turn/C)*L");
  }

  /**
   * DPO with K samples (one call each), all K(K-1) ordered pairs judged by J judges and the lead
   * judge, and one criteria call per prompt on the lead judge.
   */
  public static WorkloadPlan dpo(int prompts, int k, int judges) {
    long pairs = (long) k * (k - 1);
    Map<String, Long> calls = new LinkedHashMap<>();
    calls.put(POLICY, (long) prompts * k);
    for (int i = 1; i <= judges; i++) {
      calls.put(judge(i), prompts * pairs);
    }
    calls.put(LEAD, prompts * (pairs + 1));
    return new WorkloadPlan(calls, 4,
        List.of((long) prompts * k, (long) prompts, prompts * pairs, prompts * pairs),
        "overlap: max(policy N*K, judge N*K(K-1), lead N*(K(K-1)+1)) * L/C + 4*L (sample, criteria, judge, lead);"
            + " barrier: (ceil(N*K/C) + ceil(N/C) + 2*ceil(N*K(K-1)/C)) * L");
  }

  public long totalCalls() {
    return calls.values().stream().mapToLong(Long::longValue).sum();
  }

  /** The overlap bound in seconds for mean latency {@code meanMs} and cap {@code cap} (> 0). */
  public double boundSeconds(double meanMs, int cap) {
    long busiest = calls.values().stream().mapToLong(Long::longValue).max().orElse(0);
    return busiest * meanMs / 1000.0 / cap + chainCalls * meanMs / 1000.0;
  }

  /**
   * The barrier bound: every stage after the previous one, each taking ceil(calls/C) rounds of L
   * (a stage cannot take less than one call's latency).
   */
  public double barrierBoundSeconds(double meanMs, int cap) {
    long rounds = stageCalls.stream().mapToLong(n -> (n + cap - 1) / cap).sum();
    return rounds * meanMs / 1000.0;
  }
}
