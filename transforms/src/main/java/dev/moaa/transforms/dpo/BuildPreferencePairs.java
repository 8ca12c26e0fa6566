package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoGather;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.transforms.TwoOutputs;
import dev.moaa.transforms.moa.Windowing;
import java.util.Map;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * MoAA-DPO from conversations to preference rows: the prompt (the conversation up to its last user
 * turn) → K candidates from the policy → the prompt's criteria (when enabled) → every pair of
 * distinct candidates judged in both orders ({@link JudgePairs}) → scores → chosen = best,
 * rejected = worst.
 *
 * <p>Every input ends as exactly one of: a {@link DpoRecord}; a {@link Dropped} row (every pair a
 * tie, no margin, margin below threshold, identical candidates); a {@link DeadLetter} (history
 * missing for a multi-turn prompt, fewer than two candidates, a failed judge call, a verdict
 * unreadable after one repair).
 */
public final class BuildPreferencePairs extends PTransform<PCollection<Conversation>, BuildPreferencePairs.Result> {
  private static final long serialVersionUID = 1L;
  private final DpoTopology topology;
  private final String configHash;

  private BuildPreferencePairs(DpoTopology topology, String configHash) {
    this.topology = topology;
    this.configHash = configHash;
  }

  public static BuildPreferencePairs with(DpoTopology topology) {
    return new BuildPreferencePairs(topology, "");
  }

  public BuildPreferencePairs withConfigHash(String h) {
    return new BuildPreferencePairs(topology, h);
  }

  @Override
  public Result expand(PCollection<Conversation> conversations) {
    AvroCoder<DpoWork> workCoder = AvroCoder.of(DpoWork.class);
    AvroCoder<DeadLetter> deadCoder = AvroCoder.of(DeadLetter.class);
    AvroCoder<Dropped> droppedCoder = AvroCoder.of(Dropped.class);
    KvCoder<String, DpoGather> gatherCoder = KvCoder.of(StringUtf8Coder.of(), AvroCoder.of(DpoGather.class));

    PCollectionTuple prompts = conversations.apply("ToPrompt", ParDo.of(new DpoFns.ToPromptFn())
        .withOutputTags(DpoFns.ToPromptFn.PROMPTS, TupleTagList.of(DpoFns.FAILED)));
    PCollection<DpoWork> work = prompts.get(DpoFns.ToPromptFn.PROMPTS).setCoder(workCoder);

    PCollection<DpoWork> sampled;
    if (topology.useN()) {
      sampled = work.apply("SampleCandidates/" + topology.policy().name(), ParDo.of(new DpoFns.SampleAllFn(topology))
              .withOutputTags(DpoFns.SampleAllFn.SAMPLED, TupleTagList.empty()))
          .get(DpoFns.SampleAllFn.SAMPLED).setCoder(workCoder);
    } else {
      sampled = work
          .apply("FanOutCandidates", ParDo.of(new DpoFns.FanOutCandidatesFn(topology.k())))
          .setCoder(KvCoder.of(VarIntCoder.of(), workCoder))
          .apply("SampleCandidates/" + topology.policy().name(), ParDo.of(new DpoFns.SampleFn(topology))
              .withOutputTags(DpoFns.SampleFn.SAMPLED, TupleTagList.empty()))
          .get(DpoFns.SampleFn.SAMPLED).setCoder(KvCoder.of(StringUtf8Coder.of(), workCoder))
          .apply("CloseWhenAllSampled", Windowing.firstNPerKey(topology.k()))
          .apply("GroupCandidates", GroupByKey.create())
          .apply("MergeCandidates", ParDo.of(new DpoFns.MergeCandidatesFn())).setCoder(workCoder)
          .apply("RestoreTrigger", Windowing.restoreDefault());
    }
    if (topology.criteriaEnabled()) {
      sampled = sampled.apply("SelectCriteria/" + topology.criteriaModel().name(),
              ParDo.of(new DpoFns.SelectCriteriaFn(topology)).withOutputTags(DpoFns.SelectCriteriaFn.SELECTED, TupleTagList.empty()))
          .get(DpoFns.SelectCriteriaFn.SELECTED).setCoder(workCoder);
    }
    PCollectionTuple expanded = sampled.apply("ExpandPairs", ParDo.of(new DpoFns.ExpandPairsFn())
        .withOutputTags(DpoFns.ExpandPairsFn.TASKS,
            TupleTagList.of(DpoFns.ExpandPairsFn.HEADERS).and(DpoFns.FAILED).and(DpoFns.DROPPED)));
    PCollection<KV<String, DpoGather>> judgments = expanded.get(DpoFns.ExpandPairsFn.TASKS)
        .setCoder(AvroCoder.of(JudgeTask.class))
        .apply("JudgePairs", JudgePairs.with(topology))
        .apply("KeyByPrompt", MapElements.into(TypeDescriptors.kvs(TypeDescriptors.strings(), TypeDescriptor.of(DpoGather.class)))
            .via(j -> KV.of(j.getPromptId(), new DpoGather(null, j))))
        .setCoder(gatherCoder);
    PCollectionTuple gathered = PCollectionList.of(expanded.get(DpoFns.ExpandPairsFn.HEADERS).setCoder(gatherCoder))
        .and(judgments)
        .apply("FlattenForGather", Flatten.pCollections())
        .apply("GatherJudgments", ParDo.of(new GatherJudgmentsFn())
            .withOutputTags(GatherJudgmentsFn.COMPLETE, TupleTagList.of(DpoFns.FAILED)));
    PCollectionTuple scored = gathered.get(GatherJudgmentsFn.COMPLETE).setCoder(workCoder)
        .apply("Score", ParDo.of(new ScorePromptFn(topology, configHash))
            .withOutputTags(ScorePromptFn.RECORDS, TupleTagList.of(DpoFns.FAILED).and(DpoFns.DROPPED)));

    PCollection<DeadLetter> failures = PCollectionList.of(prompts.get(DpoFns.FAILED).setCoder(deadCoder))
        .and(expanded.get(DpoFns.FAILED).setCoder(deadCoder))
        .and(gathered.get(DpoFns.FAILED).setCoder(deadCoder))
        .and(scored.get(DpoFns.FAILED).setCoder(deadCoder))
        .apply("FlattenFailures", Flatten.pCollections());
    PCollection<Dropped> dropped = PCollectionList.of(expanded.get(DpoFns.DROPPED).setCoder(droppedCoder))
        .and(scored.get(DpoFns.DROPPED).setCoder(droppedCoder))
        .apply("FlattenDropped", Flatten.pCollections());
    return new Result(scored.get(ScorePromptFn.RECORDS).setCoder(AvroCoder.of(DpoRecord.class)), failures, dropped);
  }

  /** Preference rows, dead letters, and prompts dropped with a reason. */
  public static final class Result extends TwoOutputs<DpoRecord, DeadLetter> {
    private final PCollection<Dropped> dropped;

    Result(PCollection<DpoRecord> records, PCollection<DeadLetter> failures, PCollection<Dropped> dropped) {
      super(records, "records", failures, "failures");
      this.dropped = dropped;
    }

    public PCollection<DpoRecord> records() {
      return first();
    }

    public PCollection<DeadLetter> failures() {
      return second();
    }

    public PCollection<Dropped> dropped() {
      return dropped;
    }

    @Override
    public Map<TupleTag<?>, PValue> expand() {
      Map<TupleTag<?>, PValue> m = new java.util.HashMap<>(super.expand());
      m.put(new TupleTag<Dropped>("dropped"), dropped);
      return m;
    }
  }
}
