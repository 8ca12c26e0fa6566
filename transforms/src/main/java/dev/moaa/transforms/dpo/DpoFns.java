package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.moa.DeadLetters;
import dev.moaa.transforms.moa.CallMetrics;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The DPO pipeline's outputs besides its rows ({@link #FAILED}, {@link #DROPPED}) and the step
 * before its chain: the prompt of a conversation. Each prompt's whole chain runs in {@link
 * DpoChainFn}.
 */
public final class DpoFns {
  private DpoFns() {}

  public static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};
  public static final TupleTag<Dropped> DROPPED = new TupleTag<>() {};

  // ---------------------------------------------------------------------------------------------
  /**
   * A conversation becomes a DPO prompt: everything up to and including its last user turn. Earlier
   * turns need the input's own assistant replies; a multi-turn row without them is a dead letter
   * ({@code incomplete_history}).
   */
  public static class ToPromptFn extends DoFn<Conversation, DpoWork> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<DpoWork> PROMPTS = new TupleTag<>() {};

    @ProcessElement
    public void process(@Element Conversation c, MultiOutputReceiver out) {
      List<Message> prompt = new ArrayList<>();
      if (c.getSystem() != null && !c.getSystem().isBlank()) {
        prompt.add(new Message("system", c.getSystem()));
      }
      int last = c.getTurns().size() - 1;
      for (int t = 0; t <= last; t++) {
        prompt.add(new Message("user", c.getTurns().get(t)));
        if (t < last) {
          String reply = t < c.getReplies().size() ? c.getReplies().get(t) : null;
          if (reply == null) {
            out.get(FAILED).output(DeadLetters.forConversation("prompt", "incomplete_history",
                "user turn " + (t + 1) + " of " + (last + 1) + " has no assistant reply in the input, so the "
                    + "prompt up to the last user turn cannot be built", c, t, List.of()));
            return;
          }
          prompt.add(new Message("assistant", reply));
        }
      }
      out.get(PROMPTS).output(DpoWork.newBuilder().setConversation(c).setPrompt(prompt).build());
    }
  }
}
