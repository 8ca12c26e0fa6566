package dev.moaa.pipelines;

import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.SftRecord;
import dev.moaa.transforms.input.ConversationParser;
import dev.moaa.transforms.input.InputFormat;
import dev.moaa.transforms.io.DeduplicateConversations;
import dev.moaa.transforms.io.ReadConversations;
import dev.moaa.transforms.io.WriteJsonLines;
import dev.moaa.transforms.io.WriteShards;
import dev.moaa.transforms.moa.SynthesizeConversations;
import dev.moaa.transforms.moa.Windowing;
import java.util.Arrays;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * MoAA-SFT: read → dedupe → propose/aggregate per turn and layer → Parquet and Avro shards, with
 * dead letters, dropped rows and the counts that reconcile them.
 *
 * <p>Output folder layout: {@code sft/parquet/}, {@code sft/avro/}, {@code dead-letters/},
 * {@code dropped/}, {@code _run/counts.tsv} (written by the pipeline), {@code manifest.json}
 * (written by {@link SftCommand} after the pipeline is done).
 */
public final class SftPipeline {
  private SftPipeline() {}

  /** Where a run puts each output under its folder. */
  public static final String SFT_DIR = "sft";
  public static final String DEAD_LETTER_DIR = "dead-letters";
  public static final String DROPPED_DIR = "dropped";
  public static final String COUNTS_FILE = "_run/counts.tsv";

  /** Settings of one run that are not in the config file. */
  public record RunSpec(List<String> inputs, String output, InputFormat format, int shards) {
    public static RunSpec of(MoaaConfig config, SftOptions options) {
      InputFormat format = options.getInputFormat() == null
          ? config.inputFormat() : InputFormat.parse(options.getInputFormat());
      int shards = options.getShards() == null ? config.shards() : options.getShards();
      List<String> inputs = Arrays.stream(options.getInput().split(",")).map(String::trim)
          .filter(s -> !s.isEmpty()).toList();
      return new RunSpec(inputs, options.getOutput(), format, shards);
    }
  }

  /** Adds the whole SFT graph to {@code p}. */
  public static void build(Pipeline p, MoaaConfig config, RunSpec spec) {
    String out = spec.output().endsWith("/") ? spec.output() : spec.output() + "/";
    ConversationParser parser = ConversationParser.of(spec.format())
        .withMaxPromptChars(config.maxPromptChars())
        .withMaxTurns(config.sft().maxTurns());

    ReadConversations.Result read = p.apply("ReadConversations", ReadConversations.from(spec.inputs()).withParser(parser));
    DeduplicateConversations.Result unique = read.conversations().apply("Deduplicate", DeduplicateConversations.byId());
    SynthesizeConversations.Result synthesized = unique.kept()
        .apply("Synthesize", SynthesizeConversations.of(config.sft()).withConfigHash(config.hash()));

    PCollection<SftRecord> records = synthesized.records().apply("RecordsDefaultTrigger", Windowing.restoreDefault());
    PCollection<DeadLetter> dead = PCollectionList.of(read.failures()).and(synthesized.failures())
        .apply("AllDeadLetters", Flatten.pCollections())
        .setCoder(AvroCoder.of(DeadLetter.class))
        .apply("DeadDefaultTrigger", Windowing.restoreDefault());
    PCollection<Dropped> dropped = unique.dropped();

    records.apply("WriteSftShards", WriteShards.of(SftRecord.class, SftRecord.getClassSchema())
        .to(out + SFT_DIR).withNumShards(spec.shards()));
    dead.apply("WriteDeadLetters", WriteJsonLines.<DeadLetter>to(out + DEAD_LETTER_DIR));
    dropped.apply("WriteDropped", WriteJsonLines.<Dropped>to(out + DROPPED_DIR));

    PCollection<String> reasons = dead
        .apply("DeadLetterReason", MapElements.into(TypeDescriptors.strings()).via(DeadLetter::getReason))
        .apply("CountReasons", Count.perElement())
        .apply("LabelReasons", MapElements.into(TypeDescriptors.strings())
            .via((KV<String, Long> kv) -> "reason:" + kv.getKey() + "\t" + kv.getValue()));
    PCollectionList.of(count("read_ok", read.conversations()))
        .and(count("read_failed", read.failures()))
        .and(count("written", records))
        .and(count("dead_lettered", dead))
        .and(count("dropped", dropped))
        .and(reasons)
        .apply("AllCounts", Flatten.pCollections())
        .apply("WriteCounts", TextIO.write().to(out + COUNTS_FILE).withoutSharding());
  }

  private static <T> PCollection<String> count(String name, PCollection<T> items) {
    return items
        .apply("Count/" + name + "/Window", Windowing.<T>restoreDefault())
        .apply("Count/" + name, Count.globally())
        .apply("Count/" + name + "/Label", MapElements.into(TypeDescriptors.strings()).via(n -> name + "\t" + n));
  }

}
