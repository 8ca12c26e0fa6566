package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.Message;
import dev.moaa.schemas.SftRecord;
import dev.moaa.schemas.TurnLineage;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.transforms.DoFn;

/** Turns a conversation whose every turn was synthesized into its SFT row with full lineage. */
public class BuildSftRecordFn extends DoFn<TurnWork, SftRecord> {
  private static final long serialVersionUID = 1L;

  private final MoaTopology topology;
  private final String configHash;

  public BuildSftRecordFn(MoaTopology topology, String configHash) {
    this.topology = topology;
    this.configHash = configHash;
  }

  @ProcessElement
  public void process(@Element TurnWork work, OutputReceiver<SftRecord> out) {
    out.output(build(work, topology, configHash));
  }

  static SftRecord build(TurnWork work, MoaTopology topology, String configHash) {
    Conversation c = work.getConversation();
    List<Message> messages = new ArrayList<>();
    if (c.getSystem() != null && !c.getSystem().isBlank()) {
      messages.add(new Message("system", c.getSystem()));
    }
    messages.addAll(work.getHistory());
    long prompt = 0;
    long completion = 0;
    for (TurnLineage t : work.getDone()) {
      for (Call p : t.getProposals()) {
        prompt += p.getPromptTokens();
        completion += p.getCompletionTokens();
      }
      prompt += t.getAggregator().getPromptTokens();
      completion += t.getAggregator().getCompletionTokens();
    }
    List<String> proposers = new ArrayList<>();
    for (ModelEndpoint p : topology.proposers()) {
      proposers.add(p.name());
    }
    return SftRecord.newBuilder()
        .setId(c.getId())
        .setMessages(messages)
        .setSource(c.getSource())
        .setSourceLine(c.getLine())
        .setSourceFormat(c.getFormat())
        .setProposerModels(proposers)
        .setAggregatorModel(topology.aggregator().name())
        .setLayers(topology.layers())
        .setProposerTemplate(PromptTemplate.load(topology.refineTemplate()).version())
        .setAggregatorTemplate(PromptTemplate.load(topology.aggregatorTemplate()).version())
        .setTurns(work.getDone())
        .setPromptTokens(prompt)
        .setCompletionTokens(completion)
        .setConfigHash(configHash)
        .build();
  }
}
