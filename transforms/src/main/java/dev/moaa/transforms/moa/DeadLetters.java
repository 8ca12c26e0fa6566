package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import java.util.List;
import org.apache.avro.generic.GenericData;

/** Builders of {@link DeadLetter} records for conversations that failed inside the pipeline. */
public final class DeadLetters {
  /** The reason of a conversation left undone because the run's budget ran out; a later run finishes it. */
  public static final String BUDGET = "budget";

  private DeadLetters() {}

  public static DeadLetter forConversation(String stage, String reason, String error,
      Conversation c, Integer turn, List<Call> calls) {
    return DeadLetter.newBuilder()
        .setStage(stage)
        .setReason(reason)
        .setError(error)
        .setSource(c.getSource())
        .setLine(c.getLine())
        .setConversationId(c.getId())
        .setTurn(turn)
        .setInput(GenericData.get().toString(c))
        .setCalls(calls)
        .build();
  }

  /** The dead-letter reason of calls that include one the budget stopped; {@code usual} otherwise. */
  public static String reason(String usual, List<Call> calls) {
    return refusedForBudget(calls) ? BUDGET : usual;
  }

  /** True when a call was not sent because the run's budget could have been passed by it. */
  public static boolean refusedForBudget(List<Call> calls) {
    for (Call c : calls) {
      if (!c.getOk() && BUDGET.equals(c.getErrorKind())) {
        return true;
      }
    }
    return false;
  }

  /** A compact "model: kind (message)" list of the failed calls, for the error field. */
  public static String describeFailures(List<Call> calls) {
    StringBuilder b = new StringBuilder();
    for (Call c : calls) {
      if (!c.getOk()) {
        if (b.length() > 0) {
          b.append("; ");
        }
        b.append(c.getModel()).append(": ").append(c.getErrorKind()).append(" after ")
            .append(c.getAttempts()).append(" attempt(s)");
      }
    }
    return b.toString();
  }
}
