package dev.moaa.transforms.clean;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.Dropped;
import dev.moaa.transforms.io.KeptAndDropped;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;

public class CleanConversationsTest {
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  private static final String LONG = "Our team runs a nightly batch job that reads click events from object storage, "
      + "joins them with the customer table, aggregates revenue per region and writes the result to a warehouse. "
      + "The job has become slow since the data doubled. Suggest concrete steps to find the bottleneck and speed it up, "
      + "in order of expected payoff, and say how to measure each one.";

  private static Conversation conv(String id, String... turns) {
    return Conversation.newBuilder().setId(id).setSource("in.jsonl").setLine(id.hashCode() & 0xff).setFormat("prompt")
        .setTurns(List.of(turns)).build();
  }

  @Test
  public void givenDuplicatesAndBenchmarkCopies_dropsEachWithItsReasonAndMatch() {
    List<Conversation> input = new ArrayList<>(List.of(
        conv("a-long", LONG),
        conv("b-long-copy", LONG.toUpperCase().replace(",", " ;")),
        conv("c-long-edited", LONG.replace("nightly", "daily")),
        conv("d-other", "Explain what a watermark is in stream processing, with a small example."),
        conv("e-mt", "Draft a professional email seeking your supervisor's feedback on the 'Quarterly Financial Report' "
            + "you prepared. Ask specifically about the data analysis, presentation style, and the clarity of conclusions "
            + "drawn. Keep the email short and to the point."),
        conv("f-short", "How do I wrap an oddly shaped gift?")));
    Map<String, String> expectedReasons = new TreeMap<>(Map.of(
        "b-long-copy", "duplicate_content:a-long",
        "c-long-edited", "near_duplicate:a-long",
        "e-mt", "benchmark_contamination:mt_bench:82"));

    KeptAndDropped r = pipeline.apply(Create.of(input).withCoder(AvroCoder.of(Conversation.class)))
        .apply(CleanConversations.of(CleanSpec.defaults()));

    PAssert.that(r.kept().apply("Ids", MapElements.into(TypeDescriptors.strings()).via(c -> c.getId().toString())))
        .containsInAnyOrder("a-long", "d-other", "f-short");
    PAssert.that(r.dropped().apply("Reasons", MapElements.into(TypeDescriptors.strings())
        .via((Dropped d) -> d.getId() + "=" + d.getReason() + ":" + d.getMatch())))
        .containsInAnyOrder(expectedReasons.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
    PAssert.that(r.dropped()).satisfies(rows -> {
      for (Dropped d : rows) {
        assertTrue(d.getDetail() + "", d.getDetail() != null && !d.getDetail().toString().isBlank());
        assertTrue(d.getOverlap() != null && d.getOverlap() > 0);
        if (d.getId().toString().equals("e-mt")) {
          assertTrue(d.getDetail().toString(), d.getDetail().toString().contains("mt_bench question 82"));
          assertEquals(1.0, d.getOverlap(), 1e-9);
        }
      }
      return null;
    });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void exactMode_keepsNearDuplicates_andOffKeepsEverything() {
    List<Conversation> input = List.of(conv("a", LONG), conv("b", LONG.replace("nightly", "daily")), conv("c", LONG + " "));
    KeptAndDropped exact = pipeline.apply("Exact", Create.of(input).withCoder(AvroCoder.of(Conversation.class)))
        .apply("CleanExact", CleanConversations.of(CleanSpec.defaults().withDedup(DedupMode.EXACT)));
    KeptAndDropped off = pipeline.apply("Off", Create.of(input).withCoder(AvroCoder.of(Conversation.class)))
        .apply("CleanOff", CleanConversations.of(CleanSpec.off()));
    PAssert.that(exact.kept().apply("ExactIds", MapElements.into(TypeDescriptors.strings()).via(c -> c.getId().toString())))
        .containsInAnyOrder("a", "b");
    PAssert.that(off.kept().apply("OffIds", MapElements.into(TypeDescriptors.strings()).via(c -> c.getId().toString())))
        .containsInAnyOrder("a", "b", "c");
    PAssert.that(off.dropped()).empty();
    pipeline.run().waitUntilFinish();
  }
}
