package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.Message;
import dev.moaa.schemas.TurnWork;
import java.util.ArrayList;
import java.util.List;

/**
 * Renders the messages of each MoA call from a {@link TurnWork}. A first-layer proposer sees the
 * conversation as it stands (system prompt, the synthesized history, the current user turn). A
 * later-layer proposer and the aggregator see the same conversation with the previous layer's
 * successful proposals presented, numbered, in the system message after the original system prompt.
 */
public final class MoaMessages {
  private MoaMessages() {}

  public static List<Message> forProposer(TurnWork work, PromptTemplate refine) {
    if (work.getLayer() <= 1) {
      return conversation(work, work.getConversation().getSystem());
    }
    return withReferences(work, refine);
  }

  public static List<Message> forAggregator(TurnWork work, PromptTemplate aggregate) {
    return withReferences(work, aggregate);
  }

  private static List<Message> withReferences(TurnWork work, PromptTemplate template) {
    List<String> drafts = new ArrayList<>();
    for (Call c : work.getReferences()) {
      drafts.add(c.getContent());
    }
    String instruction = template.renderWithProposals(drafts);
    String original = work.getConversation().getSystem();
    String system = original == null || original.isBlank() ? instruction : original.strip() + "\n\n" + instruction;
    return conversation(work, system);
  }

  private static List<Message> conversation(TurnWork work, String system) {
    List<Message> out = new ArrayList<>(work.getHistory().size() + 2);
    if (system != null && !system.isBlank()) {
      out.add(new Message("system", system));
    }
    out.addAll(work.getHistory());
    out.add(new Message("user", work.getConversation().getTurns().get(work.getTurn())));
    return out;
  }
}
