package dev.moaa.transforms.dpo;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.client.ChatRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Renders the judge, lead-judge, criteria and repair requests from the versioned templates. */
public final class JudgePrompts {
  public static final String PAIRWISE_V1 = "judge/pairwise/v1";
  public static final String AGGREGATE_V1 = "judge/aggregate/v1";
  public static final String CRITERIA_V1 = "judge/criteria/v1";
  public static final String REPAIR_V1 = "judge/repair/v1";

  private JudgePrompts() {}

  /** The conversation as judges read it: one block per message, role first. */
  public static String conversation(List<Message> prompt) {
    StringBuilder b = new StringBuilder();
    for (Message m : prompt) {
      if (b.length() > 0) {
        b.append("\n\n");
      }
      b.append(m.getRole().toUpperCase(java.util.Locale.ROOT)).append(":\n").append(m.getContent());
    }
    return b.toString();
  }

  public static ChatRequest pairwise(List<Message> prompt, List<String> criteria, String answerA, String answerB) {
    String text = PromptTemplate.load(PAIRWISE_V1).render(Map.of(
        "criteria", JudgingCriteria.describe(criteria),
        "conversation", conversation(prompt),
        "answer_a", answerA.strip(),
        "answer_b", answerB.strip()));
    return ChatRequest.of(List.of(new Message("user", text)));
  }

  public static ChatRequest aggregate(List<Message> prompt, List<String> criteria, String answerA,
      String answerB, List<JudgeVote> votes) {
    StringBuilder evaluations = new StringBuilder();
    int n = 0;
    for (JudgeVote v : votes) {
      n++;
      if (n > 1) {
        evaluations.append("\n\n");
      }
      evaluations.append("[Evaluation ").append(n).append("]\n")
          .append(v.getRationale() == null ? "(no evaluation)" : v.getRationale().strip())
          .append("\n[End of evaluation ").append(n).append("]");
    }
    String text = PromptTemplate.load(AGGREGATE_V1).render(Map.of(
        "criteria", JudgingCriteria.describe(criteria),
        "conversation", conversation(prompt),
        "answer_a", answerA.strip(),
        "answer_b", answerB.strip(),
        "evaluations", evaluations.toString()));
    return ChatRequest.of(List.of(new Message("user", text)));
  }

  public static ChatRequest criteria(List<Message> prompt, int count) {
    String text = PromptTemplate.load(CRITERIA_V1).render(Map.of(
        "conversation", conversation(prompt),
        "criteria_list", JudgingCriteria.renderList(),
        "count", String.valueOf(count)));
    return ChatRequest.of(List.of(new Message("user", text)));
  }

  /** The original request, the judge's unusable reply, and the repair instruction. */
  public static ChatRequest repair(ChatRequest original, String reply) {
    List<Message> msgs = new ArrayList<>(original.messages());
    msgs.add(new Message("assistant", reply));
    msgs.add(new Message("user", PromptTemplate.load(REPAIR_V1).text()));
    return new ChatRequest(msgs, original.seed(), 1);
  }

  /** The repair rule of a verdict request: a follow-up only when no verdict line can be read. */
  public static java.util.function.Function<String, ChatRequest> verdictRepair(ChatRequest original) {
    return reply -> Verdicts.parse(reply).isPresent() ? null : repair(original, reply);
  }

  public static List<String> versions() {
    return List.of(PromptTemplate.load(PAIRWISE_V1).version(), PromptTemplate.load(AGGREGATE_V1).version(),
        PromptTemplate.load(CRITERIA_V1).version(), PromptTemplate.load(REPAIR_V1).version());
  }
}
