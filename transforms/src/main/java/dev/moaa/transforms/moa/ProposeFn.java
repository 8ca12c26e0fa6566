package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Ballot;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;

/**
 * One proposer model answering the current (turn, layer) of each conversation. Emits exactly one
 * {@link Ballot} per input, successful or failed, keyed by {@link #key(TurnWork)} so that the
 * proposals of one (conversation, turn, layer) meet in one group.
 */
public class ProposeFn extends ModelCallFn<TurnWork, KV<String, Ballot>> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<KV<String, Ballot>> BALLOTS = new TupleTag<>() {};

  private final String refineTemplateId;
  private transient PromptTemplate refine;

  public ProposeFn(ModelEndpoint endpoint, String refineTemplateId) {
    super(endpoint);
    this.refineTemplateId = refineTemplateId;
  }

  /** {@code id/turn/layer}. */
  public static String key(TurnWork w) {
    return w.getConversation().getId() + "/" + w.getTurn() + "/" + w.getLayer();
  }

  @Override
  protected Planned plan(TurnWork work) {
    if (refine == null) {
      refine = PromptTemplate.load(refineTemplateId);
    }
    String template = work.getLayer() <= 1 ? null : refine.version();
    return new Planned(ChatRequest.of(MoaMessages.forProposer(work, refine)), template, "proposer",
        work.getTurn(), work.getLayer());
  }

  @Override
  protected void handle(TurnWork work, Call call, Emitter out) {
    out.output(BALLOTS, KV.of(key(work), new Ballot(work, call)));
  }
}
