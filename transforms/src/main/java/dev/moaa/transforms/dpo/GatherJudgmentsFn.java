package dev.moaa.transforms.dpo;

import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoGather;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.moa.DeadLetters;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.state.BagState;
import org.apache.beam.sdk.state.StateSpec;
import org.apache.beam.sdk.state.StateSpecs;
import org.apache.beam.sdk.state.TimeDomain;
import org.apache.beam.sdk.state.Timer;
import org.apache.beam.sdk.state.TimerSpec;
import org.apache.beam.sdk.state.TimerSpecs;
import org.apache.beam.sdk.state.ValueState;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;

/**
 * Per prompt: holds the work and its judgments until all the work said to expect have arrived,
 * then emits the work with its judgments, so scoring starts the moment a prompt's last judgment is
 * in (the number differs per prompt, which a count trigger cannot express). Anything still held at
 * the end of the window is a dead letter ({@code incomplete_judgments}), never lost.
 */
public class GatherJudgmentsFn extends DoFn<KV<String, DpoGather>, DpoWork> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<DpoWork> COMPLETE = new TupleTag<>() {};

  @StateId("work")
  private final StateSpec<ValueState<DpoWork>> workSpec = StateSpecs.value(AvroCoder.of(DpoWork.class));

  @StateId("judgments")
  private final StateSpec<BagState<Judgment>> judgmentsSpec = StateSpecs.bag(AvroCoder.of(Judgment.class));

  @StateId("count")
  private final StateSpec<ValueState<Integer>> countSpec = StateSpecs.value(VarIntCoder.of());

  @TimerId("flush")
  private final TimerSpec flushSpec = TimerSpecs.timer(TimeDomain.EVENT_TIME);

  @ProcessElement
  public void process(@Element KV<String, DpoGather> e, BoundedWindow window,
      @StateId("work") ValueState<DpoWork> work,
      @StateId("judgments") BagState<Judgment> judgments,
      @StateId("count") ValueState<Integer> count,
      @TimerId("flush") Timer flush,
      MultiOutputReceiver out) {
    DpoGather g = e.getValue();
    int n = count.read() == null ? 0 : count.read();
    if (g.getWork() != null) {
      work.write(g.getWork());
    }
    if (g.getJudgment() != null) {
      judgments.add(g.getJudgment());
      n++;
      count.write(n);
    }
    DpoWork w = g.getWork() != null ? g.getWork() : work.read();
    if (w != null && n >= w.getExpectedJudgments()) {
      List<Judgment> all = new ArrayList<>();
      judgments.read().forEach(all::add);
      all.sort(Comparator.comparingInt(Judgment::getFirst).thenComparingInt(Judgment::getSecond));
      out.get(COMPLETE).output(DpoWork.newBuilder(w).setJudgments(all).build());
      work.clear();
      judgments.clear();
      count.clear();
      return;
    }
    flush.set(window.maxTimestamp());
  }

  @OnTimer("flush")
  public void onFlush(@StateId("work") ValueState<DpoWork> work,
      @StateId("judgments") BagState<Judgment> judgments,
      @StateId("count") ValueState<Integer> count,
      MultiOutputReceiver out) {
    DpoWork w = work.read();
    Integer n = count.read();
    if (w == null && n == null) {
      return;
    }
    if (w != null) {
      out.get(DpoFns.FAILED).output(DeadLetters.forConversation("judge", "incomplete_judgments",
          (n == null ? 0 : n) + " of " + w.getExpectedJudgments() + " judgments arrived", w.getConversation(), null, List.of()));
    } else {
      List<Judgment> orphans = new ArrayList<>();
      judgments.read().forEach(orphans::add);
      out.get(DpoFns.FAILED).output(DeadLetter.newBuilder().setStage("judge").setReason("incomplete_judgments")
          .setError(orphans.size() + " judgments arrived for a prompt whose work never did")
          .setConversationId(orphans.isEmpty() ? null : orphans.get(0).getPromptId()).build());
    }
    work.clear();
    judgments.clear();
    count.clear();
  }
}
