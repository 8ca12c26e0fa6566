package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.Dropped;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.dpo.BuildPreferencePairs;
import dev.moaa.transforms.dpo.DpoTopology;
import dev.moaa.transforms.dpo.JudgePrompts;
import dev.moaa.transforms.io.KeptAndDropped;
import dev.moaa.transforms.io.ReadConversations;
import dev.moaa.transforms.io.WriteShards;
import java.io.PrintStream;
import java.util.Locale;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.apache.avro.Schema;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;

/**
 * MoAA-DPO: read → dedupe → K candidates per prompt → criteria → every pair judged in both orders
 * → scores → DPO shards ({@code dpo/parquet}, {@code dpo/avro}), dead letters, dropped prompts with
 * their reason, and the counts that reconcile them.
 */
public final class DpoPipeline implements RunKind {
  public static final DpoPipeline KIND = new DpoPipeline();
  public static final String DPO_DIR = "dpo";

  private DpoPipeline() {}

  @Override
  public String command() {
    return "dpo";
  }

  @Override
  public String shardDir() {
    return DPO_DIR;
  }

  @Override
  public void check(MoaaConfig config) {
    config.dpo();
  }

  @Override
  public void describe(MoaaConfig config, RunSpec spec, PrintStream out) {
    DpoPlan plan = DpoPlan.estimate(config, spec.inputs());
    out.println(plan.describe());
  }

  @Override
  public void build(Pipeline p, MoaaConfig config, RunSpec spec) {
    String out = spec.outputDir();
    ReadConversations.Result read = p.apply("ReadConversations",
        ReadConversations.from(spec.inputs()).withParser(config.parser(spec.format(), config.dpoMaxTurns())));
    KeptAndDropped unique = read.conversations().apply("Deduplicate", GroupBuckets.dedup(p.getOptions()));
    KeptAndDropped clean = unique.kept().apply("Clean", GroupBuckets.clean(config, p.getOptions()));
    BuildPreferencePairs.Result labelled = Spread.evenly(p, clean.kept())
        .apply("BuildPreferencePairs", BuildPreferencePairs.with(config.dpo()).withConfigHash(config.hash()));

    PCollection<DpoRecord> records = labelled.records();
    PCollection<DeadLetter> dead = PCollectionList.of(read.failures()).and(labelled.failures())
        .apply("AllDeadLetters", Flatten.pCollections())
        .setCoder(AvroCoder.of(DeadLetter.class));
    PCollection<Dropped> dropped = PCollectionList.of(unique.dropped()).and(clean.dropped()).and(labelled.dropped())
        .apply("AllDropped", Flatten.pCollections())
        .setCoder(AvroCoder.of(Dropped.class));

    records.apply("WriteDpoShards", WriteShards.of(DpoRecord.class, DpoRecord.getClassSchema())
        .to(out + DPO_DIR).withNumShards(spec.shards()));
    Tally.write(out, read.conversations(), read.failures(), records, dead, dropped);
  }

  @Override
  public Schema shardSchema() {
    return DpoRecord.getClassSchema();
  }

  @Override
  public Map<String, List<String>> modelRoles(MoaaConfig config) {
    DpoTopology t = config.dpo();
    Map<String, List<String>> roles = new LinkedHashMap<>();
    BiConsumer<ModelEndpoint, String> add =
        (m, role) -> roles.computeIfAbsent(m.name(), k -> new ArrayList<>()).add(role);
    add.accept(t.policy(), "policy");
    t.judges().forEach(m -> add.accept(m, "judge"));
    if (t.lead() != null) {
      add.accept(t.lead(), "lead judge");
    }
    if (t.criteriaEnabled() && t.criteriaModel() != null) {
      add.accept(t.criteriaModel(), "criteria");
    }
    return roles;
  }

  @Override
  public ObjectNode topology(MoaaConfig config) {
    DpoTopology t = config.dpo();
    ObjectNode topo = new ObjectMapper().createObjectNode();
    topo.put("policy", t.policy().name());
    topo.put("k", t.k());
    topo.put("temperature", t.policy().temperature());
    topo.put("use_n", t.useN());
    topo.put("seed", t.seedBase());
    topo.put("judge_mode", t.mode().wireName());
    topo.putPOJO("judges", t.judges().stream().map(ModelEndpoint::name).toList());
    topo.put("lead_judge", t.lead() == null ? null : t.lead().name());
    topo.put("criteria", t.criteriaEnabled() ? t.criteriaCount() + " picked by " + t.criteriaModel().name() : "off");
    topo.put("scoring", t.scoring().wireName());
    topo.put("min_margin", t.minMargin());
    topo.putPOJO("templates", JudgePrompts.versions());
    return topo;
  }

  static String describeLine(DpoTopology t) {
    return String.format(Locale.ROOT, "MoAA DPO: policy %s, K=%d, judge mode %s with %s%s", t.policy().name(), t.k(),
        t.mode().wireName(), t.judgeNames(), t.lead() == null ? "" : " and lead " + t.lead().name());
  }
}
