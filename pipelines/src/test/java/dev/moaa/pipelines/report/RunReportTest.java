package dev.moaa.pipelines.report;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.SftPipeline;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import dev.moaa.transforms.io.StoragePath;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report's own logic: time intervals, calls counted once, and files from before calls were timed. */
class RunReportTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static GenericRecord call(Long startedAtMs) {
    GenericData.Record r = new GenericData.Record(dev.moaa.schemas.Call.getClassSchema());
    r.put("started_at_ms", startedAtMs);
    return r;
  }

  /** A shard whose rows hold calls of the Call schema from before rate_limited and the times. */
  private static void writeOldShard(Path file) throws IOException {
    List<Schema.Field> fields = new ArrayList<>();
    for (Schema.Field f : dev.moaa.schemas.Call.getClassSchema().getFields()) {
      if (!List.of("rate_limited", "started_at_ms", "ended_at_ms").contains(f.name())) {
        fields.add(new Schema.Field(f, f.schema()));
      }
    }
    Schema oldCall = Schema.createRecord("Call", null, "dev.moaa.schemas", false, fields);
    Schema row = Schema.createRecord("Row", null, "test", false,
        List.of(new Schema.Field("calls", Schema.createArray(oldCall))));
    List<GenericRecord> calls = new ArrayList<>();
    for (String model : List.of("p1", "agg")) {
      GenericData.Record c = new GenericData.Record(oldCall);
      for (Schema.Field f : oldCall.getFields()) {
        c.put(f.name(), f.hasDefaultValue() ? GenericData.get().getDefaultValue(f) : null);
      }
      c.put("model", model);
      c.put("model_id", model);
      c.put("role", model.equals("agg") ? "aggregator" : "proposer");
      c.put("turn", 0);
      c.put("layer", 1);
      c.put("ok", true);
      c.put("content", "an answer of a few words");
      c.put("attempts", 2);
      c.put("latency_ms", 120L);
      c.put("prompt_tokens", 10L);
      c.put("completion_tokens", 5L);
      calls.add(c);
    }
    GenericData.Record r = new GenericData.Record(row);
    r.put("calls", calls);
    Files.createDirectories(file.getParent());
    try (DataFileWriter<GenericRecord> w = new DataFileWriter<>(new GenericDatumWriter<GenericRecord>(row))) {
      w.create(row, file.toFile());
      w.append(r);
    }
  }

  @Test
  void theTimeAxisHasAtMost40IntervalsOfARoundWidth_fromTheFirstCallStart() {
    assertNull(RunReport.Timeline.of(List.of(call(null))), "no call recorded its start");
    RunReport.Timeline t = RunReport.Timeline.of(List.of(call(1_000L), call(2_999L), call(null)));
    assertEquals(1_000L, t.origin());
    assertEquals(50, t.bucketMs());
    assertEquals(40, t.buckets());
    assertEquals(0, t.bucket(1_000L));
    assertEquals(39, t.bucket(2_999L));
    assertEquals("seconds since the first call started", t.axis());
    assertEquals(0.025, t.x(0), 1e-9);

    RunReport.Timeline hour = RunReport.Timeline.of(List.of(call(0L), call(3_600_000L)));
    assertEquals(120_000, hour.bucketMs());
    assertEquals(31, hour.buckets());
    assertEquals("minutes since the first call started", hour.axis());
    assertEquals("2 min", hour.width());

    RunReport.Timeline days = RunReport.Timeline.of(List.of(call(0L), call(10L * 24 * 3_600_000L)));
    assertTrue(days.buckets() <= 40 && days.bucketMs() % 3_600_000L == 0, days.toString());
  }

  @Test
  void givenShardsAndDeadLettersWrittenBeforeCallsWereTimed_theTimeChartsSayThereIsNothingToShow_andTheRestIsDrawn(
      @TempDir Path out) throws IOException {
    Files.createDirectories(out.resolve("dead-letters"));
    String oldCall = "{\"model\":\"p1\",\"role\":\"proposer\",\"ok\":false,\"attempts\":3,"
        + "\"error_kind\":\"server_error\",\"request_hash\":\"h1\"}";
    // the same call twice in one dead letter counts once
    Files.writeString(out.resolve("dead-letters/part-0.jsonl"),
        "{\"stage\":\"propose\",\"reason\":\"not_enough_proposals\",\"calls\":[" + oldCall + "," + oldCall + "]}\n");
    MoaaConfig config = MoaaConfig.parse("""
        defaults: {base_url: "http://127.0.0.1:9/v1"}
        models:
          p1: {model: m1}
          agg: {model: m2}
        sft: {proposers: [p1], aggregator: agg}
        """, Map.<String, String>of()::get);
    writeOldShard(out.resolve("sft/avro/part-00000-of-00001.avro"));
    List<GenericRecord> calls = RunReport.read(StoragePath.local(out), "sft").calls;
    assertEquals(1 + 2, calls.size(), "the dead letter's call once, and the shard's two");
    Path report = RunReport.write(StoragePath.local(out), SftPipeline.KIND, JSON.createObjectNode(), config).localPath();
    String html = Files.readString(report);
    List<String> empty = new ArrayList<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(
        "<section class=\"chart\" id=\"([a-z-]+)\">(.*?)</section>", java.util.regex.Pattern.DOTALL).matcher(html);
    while (m.find()) {
      if (m.group(2).contains("nothing to show")) {
        empty.add(m.group(1));
      }
    }
    assertTrue(empty.containsAll(List.of("calls-over-time", "latency-over-time", "rate-limited-over-time")), "" + empty);
    assertFalse(empty.contains("calls"), "" + empty);
    assertFalse(empty.contains("retries"), "" + empty);
    assertFalse(empty.contains("dead-letters"), "" + empty);
    assertFalse(empty.contains("latency"), "" + empty);
    assertFalse(empty.contains("lengths"), "" + empty);
  }
}
