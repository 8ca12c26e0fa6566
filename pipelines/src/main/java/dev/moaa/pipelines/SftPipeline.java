package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.SftRecord;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.io.KeptAndDropped;
import dev.moaa.transforms.io.ReadConversations;
import dev.moaa.transforms.io.WriteShards;
import dev.moaa.transforms.moa.MoaTopology;
import dev.moaa.transforms.moa.SynthesizeConversations;
import java.io.PrintStream;
import java.util.Locale;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;

/**
 * MoAA-SFT: read → dedupe → clean (duplicates, benchmark contamination) → propose/aggregate per turn and layer → Parquet and Avro shards, with
 * dead letters, dropped rows and the counts that reconcile them.
 *
 * <p>Output folder layout: {@code sft/parquet/}, {@code sft/avro/}, {@code dead-letters/},
 * {@code dropped/}, {@code _run/counts.tsv}, and {@code manifest.json} written after the run.
 */
public final class SftPipeline implements RunKind {
  public static final SftPipeline KIND = new SftPipeline();

  /** Where a run puts each output under its folder. */
  public static final String SFT_DIR = "sft";
  public static final String DEAD_LETTER_DIR = "dead-letters";
  public static final String DROPPED_DIR = "dropped";

  private SftPipeline() {}

  @Override
  public String command() {
    return "sft";
  }

  @Override
  public String shardDir() {
    return SFT_DIR;
  }

  @Override
  public void check(MoaaConfig config) {
    config.sft();
  }

  @Override
  public int callsPerRow(MoaaConfig config) {
    MoaTopology t = config.sft();
    return t.proposers().size() * t.layers() + 1;
  }

  @Override
  public void describe(MoaaConfig config, RunSpec spec, PrintStream out) {
    MoaTopology t = config.sft();
    out.printf(Locale.ROOT, "MoAA SFT: %d proposer(s) x %d layer(s) + aggregator %s; per user turn %d calls; input %s%n",
        t.proposers().size(), t.layers(), t.aggregator().name(), t.proposers().size() * t.layers() + 1, spec.inputs());
  }

  @Override
  public void build(Pipeline p, MoaaConfig config, RunSpec spec) {
    String out = spec.outputDir();
    ReadConversations.Result read = p.apply("ReadConversations",
        ReadConversations.from(spec.inputs()).withParser(config.parser(spec.format(), config.sft().maxTurns())));
    KeptAndDropped unique = read.conversations().apply("Deduplicate", GroupBuckets.dedup(p.getOptions()));
    KeptAndDropped clean = unique.kept().apply("Clean", GroupBuckets.clean(config, p.getOptions()));
    PCollection<Dropped> dropped = PCollectionList.of(unique.dropped()).and(clean.dropped())
        .apply("AllDropped", Flatten.pCollections())
        .setCoder(AvroCoder.of(Dropped.class));
    SynthesizeConversations.Result synthesized = Spread.evenly(p, clean.kept())
        .apply("Synthesize", SynthesizeConversations.of(config.sft()).withConfigHash(config.hash()));

    PCollection<SftRecord> records = synthesized.records();
    PCollection<DeadLetter> dead = PCollectionList.of(read.failures()).and(synthesized.failures())
        .apply("AllDeadLetters", Flatten.pCollections())
        .setCoder(AvroCoder.of(DeadLetter.class));

    records.apply("WriteSftShards", WriteShards.of(SftRecord.class, SftRecord.getClassSchema())
        .to(out + SFT_DIR).withNumShards(spec.shards()));
    Tally.write(out, read.conversations(), read.failures(), records, dead, dropped);
  }

  @Override
  public Schema shardSchema() {
    return SftRecord.getClassSchema();
  }

  @Override
  public Map<String, List<String>> modelRoles(MoaaConfig config) {
    MoaTopology t = config.sft();
    Map<String, List<String>> roles = new LinkedHashMap<>();
    t.proposers().forEach(m -> roles.computeIfAbsent(m.name(), k -> new ArrayList<>()).add("proposer"));
    roles.computeIfAbsent(t.aggregator().name(), k -> new ArrayList<>()).add("aggregator");
    return roles;
  }

  @Override
  public ObjectNode topology(MoaaConfig config) {
    MoaTopology t = config.sft();
    ObjectNode topo = new ObjectMapper().createObjectNode();
    topo.putPOJO("proposers", t.proposers().stream().map(ModelEndpoint::name).toList());
    topo.put("aggregator", t.aggregator().name());
    topo.put("layers", t.layers());
    topo.put("min_proposals", t.minProposals());
    topo.put("max_turns", t.maxTurns());
    ObjectNode templates = topo.putObject("templates");
    templates.put("proposer", PromptTemplate.load(t.refineTemplate()).version());
    templates.put("aggregator", PromptTemplate.load(t.aggregatorTemplate()).version());
    return topo;
  }
}
