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
    return refusedForBudget(calls) ? BUDGET : coordinationLost(calls) ? COORDINATION : usual;
  }

  /**
   * The reason of a conversation left undone because the store sharing the run's limits and budget
   * could not be reached; a later run finishes it.
   */
  public static final String COORDINATION = "coordination_unavailable";

  /** True when a call was not sent because the coordination store could not be reached. */
  public static boolean coordinationLost(List<Call> calls) {
    for (Call c : calls) {
      if (!c.getOk() && COORDINATION.equals(c.getErrorKind())) {
        return true;
      }
    }
    return false;
  }

  /** The message of the first call stopped by the coordination store, or null. */
  public static String coordinationError(List<Call> calls) {
    for (Call c : calls) {
      if (!c.getOk() && COORDINATION.equals(c.getErrorKind())) {
        return c.getModel() + ": " + c.getError();
      }
    }
    return null;
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
