package dev.moaa.transforms.dpo;

import dev.moaa.transforms.client.ModelEndpoint;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * MoAA-DPO settings: the policy sampled K times per prompt, the judges and how they decide, and how
 * scores become a preference pair. Validated when built; {@code with…} returns a changed copy.
 */
public final class DpoTopology implements Serializable {
  private static final long serialVersionUID = 1L;

  private final ModelEndpoint policy;
  private final int k;
  private final boolean useN;
  private final long seedBase;
  private final JudgeMode mode;
  private final List<ModelEndpoint> judges;
  private final ModelEndpoint lead;
  private final boolean criteriaEnabled;
  private final int criteriaCount;
  private final ModelEndpoint criteriaModel;
  private final ScoringMethod scoring;
  private final double minMargin;

  private DpoTopology(ModelEndpoint policy, int k, boolean useN, long seedBase, JudgeMode mode,
      List<ModelEndpoint> judges, ModelEndpoint lead, boolean criteriaEnabled, int criteriaCount,
      ModelEndpoint criteriaModel, ScoringMethod scoring, double minMargin) {
    this.policy = policy;
    this.k = k;
    this.useN = useN;
    this.seedBase = seedBase;
    this.mode = mode;
    this.judges = List.copyOf(judges);
    this.lead = lead;
    this.criteriaEnabled = criteriaEnabled;
    this.criteriaCount = criteriaCount;
    this.criteriaModel = criteriaModel;
    this.scoring = scoring;
    this.minMargin = minMargin;
    if (k < 2) {
      throw new IllegalArgumentException("k must be at least 2, got " + k);
    }
    if (this.judges.isEmpty()) {
      throw new IllegalArgumentException("at least one judge is needed");
    }
    Set<String> names = new HashSet<>();
    for (ModelEndpoint j : this.judges) {
      if (!names.add(j.name())) {
        throw new IllegalArgumentException("judge " + j.name() + " is listed twice");
      }
    }
    if (mode == JudgeMode.SINGLE && this.judges.size() != 1) {
      throw new IllegalArgumentException("single mode takes exactly one judge, got " + this.judges.size());
    }
    if (mode == JudgeMode.MOA && lead == null) {
      throw new IllegalArgumentException("moa mode needs an aggregator (lead) judge");
    }
    if (criteriaEnabled && (criteriaCount < 1 || criteriaCount > JudgingCriteria.ALL.size())) {
      throw new IllegalArgumentException("criteria count must be from 1 to " + JudgingCriteria.ALL.size());
    }
    if (minMargin < 0) {
      throw new IllegalArgumentException("min_margin must not be negative");
    }
  }

  /** K=5 at temperature 0.8 with seeds 0..4, all pairs, win rates, no margin threshold; criteria on in moa mode. */
  public static DpoTopology of(ModelEndpoint policy, JudgeMode mode, List<ModelEndpoint> judges, ModelEndpoint lead) {
    ModelEndpoint sampled = policy.toBuilder().temperature(0.8).build();
    ModelEndpoint criteria = lead != null ? lead : judges.isEmpty() ? null : judges.get(0);
    return new DpoTopology(sampled, 5, false, 0, mode, judges, lead, mode == JudgeMode.MOA, 3, criteria,
        ScoringMethod.WIN_RATE, 0.0);
  }

  public DpoTopology withK(int v) {
    return new DpoTopology(policy, v, useN, seedBase, mode, judges, lead, criteriaEnabled, criteriaCount, criteriaModel, scoring, minMargin);
  }

  public DpoTopology withTemperature(double t) {
    return new DpoTopology(policy.toBuilder().temperature(t).build(), k, useN, seedBase, mode, judges, lead,
        criteriaEnabled, criteriaCount, criteriaModel, scoring, minMargin);
  }

  /** Ask for all K candidates in one call with the API's {@code n} (when the endpoint supports it). */
  public DpoTopology withUseN(boolean v) {
    return new DpoTopology(policy, k, v, seedBase, mode, judges, lead, criteriaEnabled, criteriaCount, criteriaModel, scoring, minMargin);
  }

  /** Candidate i is sampled with seed {@code base + i}. */
  public DpoTopology withSeedBase(long v) {
    return new DpoTopology(policy, k, useN, v, mode, judges, lead, criteriaEnabled, criteriaCount, criteriaModel, scoring, minMargin);
  }

  public DpoTopology withCriteria(boolean enabled, int count, ModelEndpoint model) {
    return new DpoTopology(policy, k, useN, seedBase, mode, judges, lead, enabled, count,
        model != null ? model : criteriaModel, scoring, minMargin);
  }

  public DpoTopology withScoring(ScoringMethod v) {
    return new DpoTopology(policy, k, useN, seedBase, mode, judges, lead, criteriaEnabled, criteriaCount, criteriaModel, v, minMargin);
  }

  public DpoTopology withMinMargin(double v) {
    return new DpoTopology(policy, k, useN, seedBase, mode, judges, lead, criteriaEnabled, criteriaCount, criteriaModel, scoring, v);
  }

  public ModelEndpoint policy() { return policy; }
  public int k() { return k; }
  public boolean useN() { return useN; }
  public long seedBase() { return seedBase; }
  public JudgeMode mode() { return mode; }
  public List<ModelEndpoint> judges() { return judges; }
  public ModelEndpoint lead() { return lead; }
  public boolean criteriaEnabled() { return criteriaEnabled; }
  public int criteriaCount() { return criteriaCount; }
  public ModelEndpoint criteriaModel() { return criteriaModel; }
  public ScoringMethod scoring() { return scoring; }
  public double minMargin() { return minMargin; }

  /** Judge calls for one ordered pair: every judge, plus the lead judge in moa mode. */
  public int callsPerJudgment() {
    return judges.size() + (mode == JudgeMode.MOA ? 1 : 0);
  }

  /** Judge calls per prompt when all K candidates are distinct: K(K-1) ordered pairs. */
  public long judgeCallsPerPrompt() {
    return (long) k * (k - 1) * callsPerJudgment() + (criteriaEnabled ? 1 : 0);
  }

  public List<String> judgeNames() {
    List<String> out = new ArrayList<>();
    judges.forEach(j -> out.add(j.name()));
    return out;
  }

  public int judgeIndex(String name) {
    for (int i = 0; i < judges.size(); i++) {
      if (judges.get(i).name().equals(name)) {
        return i;
      }
    }
    return Integer.MAX_VALUE;
  }
}
