package dev.moaa.transforms.io;

import dev.moaa.transforms.TwoOutputs;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.transforms.input.ConversationParser;
import dev.moaa.transforms.input.InputFormat;
import java.util.List;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.transforms.FlatMapElements;
import org.apache.beam.sdk.transforms.Impulse;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * Reads instruction corpora: JSONL (plain, gzip, …) and Parquet files matched by one or more
 * globs, rows in the {@code messages}, {@code sharegpt}, {@code alpaca} or {@code prompt} layout
 * (detected per row unless a format is given). Output: normalized {@link Conversation}s and, for
 * every record that could not be read, a {@link DeadLetter} with its line number and reason. A
 * glob that matches nothing fails the pipeline.
 */
public final class ReadConversations extends PTransform<PBegin, ReadConversations.Result> {
  /**
   * The live counter of rows read (lines that are not blank, Parquet rows), counted as each is
   * parsed: the first figure of the progress line.
   */
  public static final String ROWS_READ = "rows_read";

  private static final long serialVersionUID = 1L;

  private final List<String> patterns;
  private final ConversationParser parser;

  private ReadConversations(List<String> patterns, ConversationParser parser) {
    this.patterns = List.copyOf(patterns);
    this.parser = parser;
    if (this.patterns.isEmpty()) {
      throw new IllegalArgumentException("at least one input pattern is needed");
    }
  }

  public static ReadConversations from(List<String> patterns) {
    return new ReadConversations(patterns, ConversationParser.of(InputFormat.AUTO));
  }

  public ReadConversations withParser(ConversationParser p) {
    return new ReadConversations(patterns, p);
  }

  @Override
  public Result expand(PBegin begin) {
    List<String> globs = patterns;
    // Impulse, not Create.of(patterns): with several elements Create becomes a bounded source,
    // and Flink 1.19 then walks every path of the graph looking for an unbounded one, which
    // can take exponential time on a graph with many paths.
    PCollectionTuple parsed = begin
        .apply("Impulse", Impulse.create())
        .apply("Patterns", FlatMapElements.into(TypeDescriptors.strings()).via((byte[] unused) -> globs))
        .apply("Match", FileIO.matchAll().withEmptyMatchTreatment(EmptyMatchTreatment.DISALLOW))
        .apply("Open", FileIO.readMatches().withCompression(Compression.AUTO))
        .apply("SpreadFiles", Reshuffle.viaRandomKey())
        .apply("Parse", ParDo.of(new ParseFileFn(parser))
            .withOutputTags(ParseFileFn.PARSED, TupleTagList.of(ParseFileFn.FAILED)));
    return new Result(
        parsed.get(ParseFileFn.PARSED).setCoder(AvroCoder.of(Conversation.class)),
        parsed.get(ParseFileFn.FAILED).setCoder(AvroCoder.of(DeadLetter.class)));
  }

  /** Conversations read and records refused. */
  public static final class Result extends TwoOutputs<Conversation, DeadLetter> {
    Result(PCollection<Conversation> conversations, PCollection<DeadLetter> failures) {
      super(conversations, "conversations", failures, "failures");
    }

    public PCollection<Conversation> conversations() {
      return first();
    }

    public PCollection<DeadLetter> failures() {
      return second();
    }
  }
}
