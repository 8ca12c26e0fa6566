package dev.moaa.transforms.dpo;

import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.Judgment;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.Windowing;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * Judges ordered pairs. Input: {@link JudgeTask}s (answer A, answer B, the conversation and the
 * criteria). One {@code Judge/<model>} branch per judge model; in {@code single} mode its vote is
 * the verdict; in {@code jury} mode the votes of one task meet in a per-key group that closes when
 * the last judge's vote arrives, and the strict majority of A against B decides; in {@code moa}
 * mode the lead judge reads every evaluation and decides. Output: one {@link Judgment} per task,
 * with every vote, rationale and call; its verdict is null when a reply stayed unreadable after
 * one repair request, or a call failed after retries. Calls are deterministic in what they send.
 */
public final class JudgePairs extends PTransform<PCollection<JudgeTask>, PCollection<Judgment>> {
  private static final long serialVersionUID = 1L;
  private final DpoTopology topology;

  private JudgePairs(DpoTopology topology) {
    this.topology = topology;
  }

  public static JudgePairs with(DpoTopology topology) {
    return new JudgePairs(topology);
  }

  @Override
  public PCollection<Judgment> expand(PCollection<JudgeTask> tasks) {
    KvCoder<String, JudgeTask> votedCoder = KvCoder.of(StringUtf8Coder.of(), AvroCoder.of(JudgeTask.class));
    List<PCollection<KV<String, JudgeTask>>> branches = new ArrayList<>();
    for (ModelEndpoint judge : topology.judges()) {
      branches.add(tasks.apply("Judge/" + judge.name(),
              ParDo.of(new DpoFns.JudgeFn(judge)).withOutputTags(DpoFns.JudgeFn.VOTED, TupleTagList.empty()))
          .get(DpoFns.JudgeFn.VOTED).setCoder(votedCoder));
    }
    PCollection<KV<String, Iterable<JudgeTask>>> grouped = PCollectionList.of(branches)
        .apply("FlattenVotes", Flatten.pCollections())
        .apply("CloseWhenAllVoted", Windowing.firstNPerKey(topology.judges().size()))
        .apply("GroupVotes", GroupByKey.create());
    AvroCoder<Judgment> judgmentCoder = AvroCoder.of(Judgment.class);
    if (topology.mode() != JudgeMode.MOA) {
      return grouped.apply("PoolVotes", ParDo.of(new DpoFns.PoolVotesFn(topology))).setCoder(judgmentCoder)
          .apply("RestoreTrigger", Windowing.restoreDefault());
    }
    return grouped
        .apply("MergeVotes", ParDo.of(new DpoFns.MergeVotesFn(topology))).setCoder(AvroCoder.of(JudgeTask.class))
        .apply("RestoreTrigger", Windowing.restoreDefault())
        .apply("LeadJudge/" + topology.lead().name(),
            ParDo.of(new DpoFns.LeadJudgeFn(topology.lead())).withOutputTags(DpoFns.LeadJudgeFn.DECIDED, TupleTagList.empty()))
        .get(DpoFns.LeadJudgeFn.DECIDED).setCoder(judgmentCoder);
  }
}
