package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.Serializable;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The shape of one Mixture-of-Agents synthesis: proposers answering in {@code layers} layers, an
 * aggregator writing the final answer, and how many proposals a layer needs to go on. Validated
 * when built.
 */
public final class MoaTopology implements Serializable {
  private static final long serialVersionUID = 1L;

  private final List<ModelEndpoint> proposers;
  private final ModelEndpoint aggregator;
  private final int layers;
  private final int minProposals;
  private final int maxTurns;
  private final boolean acceptTruncated;
  private final String refineTemplate;
  private final String aggregatorTemplate;

  private MoaTopology(List<ModelEndpoint> proposers, ModelEndpoint aggregator, int layers,
      int minProposals, int maxTurns, boolean acceptTruncated, String refineTemplate,
      String aggregatorTemplate) {
    this.proposers = List.copyOf(proposers);
    this.aggregator = aggregator;
    this.layers = layers;
    this.minProposals = minProposals;
    this.maxTurns = maxTurns;
    this.acceptTruncated = acceptTruncated;
    this.refineTemplate = refineTemplate;
    this.aggregatorTemplate = aggregatorTemplate;
    if (this.proposers.isEmpty()) {
      throw new IllegalArgumentException("at least one proposer is needed");
    }
    Set<String> names = new HashSet<>();
    for (ModelEndpoint p : this.proposers) {
      if (!names.add(p.name())) {
        throw new IllegalArgumentException("proposer " + p.name() + " is listed twice");
      }
    }
    if (layers < 1) {
      throw new IllegalArgumentException("layers must be at least 1, got " + layers);
    }
    if (minProposals < 1 || minProposals > this.proposers.size()) {
      throw new IllegalArgumentException("min_proposals must be between 1 and the number of proposers ("
          + this.proposers.size() + "), got " + minProposals);
    }
    if (maxTurns < 1) {
      throw new IllegalArgumentException("max_turns must be at least 1, got " + maxTurns);
    }
    PromptTemplate.load(refineTemplate);
    PromptTemplate.load(aggregatorTemplate);
  }

  /** All proposers answer, 1 layer, every proposal needed, up to 8 turns, the v1 templates. */
  public static MoaTopology of(List<ModelEndpoint> proposers, ModelEndpoint aggregator) {
    return new MoaTopology(proposers, aggregator, 1, proposers.size(), 8, false,
        PromptTemplate.PROPOSER_REFINE_V1, PromptTemplate.AGGREGATOR_V1);
  }

  public MoaTopology withLayers(int v) {
    return new MoaTopology(proposers, aggregator, v, minProposals, maxTurns, acceptTruncated, refineTemplate, aggregatorTemplate);
  }

  public MoaTopology withMinProposals(int v) {
    return new MoaTopology(proposers, aggregator, layers, v, maxTurns, acceptTruncated, refineTemplate, aggregatorTemplate);
  }

  public MoaTopology withMaxTurns(int v) {
    return new MoaTopology(proposers, aggregator, layers, minProposals, v, acceptTruncated, refineTemplate, aggregatorTemplate);
  }

  /** Whether an aggregate cut off by its token limit may be written (default: dead letter). */
  public MoaTopology withAcceptTruncated(boolean v) {
    return new MoaTopology(proposers, aggregator, layers, minProposals, maxTurns, v, refineTemplate, aggregatorTemplate);
  }

  public MoaTopology withTemplates(String refine, String aggregate) {
    return new MoaTopology(proposers, aggregator, layers, minProposals, maxTurns, acceptTruncated, refine, aggregate);
  }

  public List<ModelEndpoint> proposers() { return proposers; }
  public ModelEndpoint aggregator() { return aggregator; }
  public int layers() { return layers; }
  public int minProposals() { return minProposals; }
  public int maxTurns() { return maxTurns; }
  public boolean acceptTruncated() { return acceptTruncated; }
  public String refineTemplate() { return refineTemplate; }
  public String aggregatorTemplate() { return aggregatorTemplate; }

  /** Position of a proposer in the configured order: proposals are presented in this order. */
  public int proposerIndex(String name) {
    for (int i = 0; i < proposers.size(); i++) {
      if (proposers.get(i).name().equals(name)) {
        return i;
      }
    }
    return Integer.MAX_VALUE;
  }
}
