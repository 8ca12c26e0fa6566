package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * MoAA-SFT end to end on the DirectRunner: 200 conversations in five layouts and two file types
 * (all 80 two-turn MT-Bench questions among them), 3 proposers, 2 layers, 1 aggregator, against
 * the simulated endpoint. Checks the output rows and, from the endpoint's request log, what was
 * actually sent to every model.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SftEndToEndTest {
  private static final String AGG = "sim-aggregator";
  private SimulatedEndpoint sim;
  private Path work;
  private Fixtures.Run run;
  private Map<String, List<String>> userTurnsById;
  private List<GenericRecord> rows;

  /** Runner flags; subclasses run the same checks on other runners. */
  protected List<String> runnerArgs() {
    return List.of();
  }

  protected String workName() {
    return "sft-direct";
  }

  @BeforeAll
  void runPipelineOnce() throws IOException {
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5).withLatencyJitterMs(20));
    work = Fixtures.workDir(workName());
    Path input = work.resolve("input");
    Files.createDirectories(input);
    userTurnsById = new HashMap<>();
    for (String f : List.of("mt_bench_question.jsonl", "arena_hard_v0.1_sample.jsonl", "alpaca_eval_sample.jsonl")) {
      try (InputStream in = getClass().getResourceAsStream("/SftEndToEndTest/" + f)) {
        Files.copy(in, input.resolve(f));
      }
    }
    for (String line : Files.readAllLines(input.resolve("mt_bench_question.jsonl"))) {
      JsonNode n = Fixtures.JSON.readTree(line);
      userTurnsById.put(n.get("question_id").asText(), List.of(n.get("turns").get(0).asText(), n.get("turns").get(1).asText()));
    }
    writeGeneratedRows(input);
    Files.writeString(work.resolve("config.yaml"), Fixtures.config(sim.baseUrl(), 3, 2, 3, "") + Fixtures.BENCHMARK_INPUT);
    List<String> args = new ArrayList<>(List.of("sft", "--config=" + work.resolve("config.yaml"),
        "--input=" + input + "/*.jsonl," + input + "/*.parquet", "--output=" + work.resolve("out")));
    args.addAll(runnerArgs());
    run = Fixtures.moaa(args.toArray(String[]::new));
    rows = Fixtures.readParquet(work.resolve("out/sft/parquet"));
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  /** 30 OpenAI-layout rows (10 with a system prompt, 10 with 2–3 user turns), 20 ShareGPT, 20 Parquet. */
  private void writeGeneratedRows(Path input) throws IOException {
    try (BufferedWriter w = Files.newBufferedWriter(input.resolve("generated.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < 30; i++) {
        String id = "msg-" + i;
        List<String> turns = new ArrayList<>();
        int n = i < 10 ? 1 : i < 20 ? 1 : 2 + (i % 2);
        for (int t = 0; t < n; t++) {
          turns.add("Row " + i + " turn " + (t + 1) + ": how would you test a data pipeline stage " + t + "?");
        }
        StringBuilder msgs = new StringBuilder("[");
        if (i < 10) {
          msgs.append("{\"role\":\"system\",\"content\":\"You are terse. Row ").append(i).append(".\"},");
        }
        for (int t = 0; t < n; t++) {
          msgs.append(t > 0 ? "," : "").append("{\"role\":\"user\",\"content\":\"").append(turns.get(t))
              .append("\"},{\"role\":\"assistant\",\"content\":\"old answer\"}");
        }
        msgs.append("]");
        w.write("{\"id\":\"" + id + "\",\"messages\":" + msgs + "}\n");
        userTurnsById.put(id, turns);
      }
      for (int i = 0; i < 20; i++) {
        String id = "sg-" + i;
        String q = "ShareGPT question " + i + ": what is a watermark in stream processing?";
        w.write("{\"id\":\"" + id + "\",\"conversations\":[{\"from\":\"human\",\"value\":\"" + q + "\"},{\"from\":\"gpt\",\"value\":\"x\"}]}\n");
        userTurnsById.put(id, List.of(q));
      }
    }
    Schema schema = new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"Row\",\"fields\":["
        + "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"instruction\",\"type\":\"string\"},{\"name\":\"input\",\"type\":\"string\"},{\"name\":\"output\",\"type\":\"string\"}]}");
    try (java.nio.channels.FileChannel channel = LocalParquet.create(input.resolve("alpaca.parquet"));
        ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(LocalParquet.out(channel))
        .withSchema(schema).build()) {
      for (int i = 0; i < 20; i++) {
        GenericRecord r = new GenericData.Record(schema);
        r.put("id", "pq-" + i);
        r.put("instruction", "Parquet instruction " + i + ": rewrite the text politely.");
        r.put("input", i % 2 == 0 ? "" : "Send me the report now.");
        r.put("output", "");
        w.write(r);
        userTurnsById.put("pq-" + i, List.of(i % 2 == 0 ? (String) r.get("instruction")
            : r.get("instruction") + "\n\n" + r.get("input")));
      }
    }
  }

  @Test
  void everyShardOfEachFormatIsWritten() throws IOException {
    for (String format : List.of("parquet", "avro")) {
      try (var files = Files.list(work.resolve("out/sft/" + format))) {
        assertEquals(List.of("part-00000-of-00002." + format, "part-00001-of-00002." + format),
            files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("part-")).sorted().toList(),
            "each format gets both of its shards (the config says output.shards: 2)");
      }
    }
  }

  @Test
  void writesOneRowPerConversation_andTheCountsReconcile() throws IOException {
    assertEquals(0, run.code(), run.err());
    assertTrue(run.out().contains("read 200 = written 200 + dead-lettered 0 + dropped 0"), run.out());
    Fixtures.assertReconciles(Fixtures.manifest(work.resolve("out")), 200, 200, 0, 0);
    assertEquals(200, rows.size());
    Set<String> ids = new HashSet<>();
    rows.forEach(r -> ids.add(r.get("id").toString()));
    assertEquals(200, ids.size());
    assertTrue(ids.containsAll(userTurnsById.keySet()), "every generated and MT-Bench id is present");
    try (java.util.stream.Stream<java.nio.file.Path> all = java.nio.file.Files.walk(work.resolve("out"))) {
      assertEquals(List.of(), all.filter(f -> f.getFileName().toString().startsWith(".temp")).toList(),
          "the file writes' emptied temporary folders are removed");
    }
  }

  @Test
  void everyTurnIsSynthesizedByTheAggregator_withLineageOfEveryProposal() {
    int twoTurn = 0;
    for (GenericRecord r : rows) {
      List<GenericRecord> msgs = list(r.get("messages"));
      List<String> users = new ArrayList<>();
      List<String> assistants = new ArrayList<>();
      for (GenericRecord m : msgs) {
        String role = m.get("role").toString();
        if (role.equals("user")) {
          users.add(m.get("content").toString());
        } else if (role.equals("assistant")) {
          assistants.add(m.get("content").toString());
        }
      }
      String id = r.get("id").toString();
      if (userTurnsById.containsKey(id)) {
        assertEquals(userTurnsById.get(id), users, "user turns of " + id);
      }
      assertEquals(users.size(), assistants.size(), id);
      twoTurn += users.size() >= 2 ? 1 : 0;
      for (String a : assistants) {
        assertTrue(a.startsWith("[simulated " + AGG + " "), "assistant turns come from the aggregator: " + a);
        assertFalse(a.contains("old answer"));
      }
      List<GenericRecord> turns = list(r.get("turns"));
      assertEquals(users.size(), turns.size());
      for (GenericRecord t : turns) {
        List<GenericRecord> proposals = list(t.get("proposals"));
        assertEquals(6, proposals.size(), "3 proposers x 2 layers");
        proposals.forEach(p -> assertTrue((Boolean) p.get("ok")));
        GenericRecord agg = (GenericRecord) t.get("aggregator");
        assertEquals("agg", agg.get("model").toString());
        assertTrue(agg.get("template").toString().startsWith("aggregator/v1#"));
      }
      assertTrue(((Long) r.get("prompt_tokens")) > 0 && ((Long) r.get("completion_tokens")) > 0);
    }
    assertTrue(twoTurn >= 80 + 10, "all MT-Bench rows and the multi-turn generated rows: " + twoTurn);
  }

  /** The proof the architecture asks for: what each model was sent. */
  @Test
  void everyAggregatorAndLayer2Request_containedEveryProposalOfThePreviousLayer_andTheHistory() {
    Map<String, List<RecordedRequest>> byConversation = new HashMap<>();
    for (RecordedRequest q : sim.requests()) {
      byConversation.computeIfAbsent(q.model() + "\u0000" + nonSystem(q.messages()), k -> new ArrayList<>()).add(q);
    }
    int checkedAggregator = 0;
    int checkedRefine = 0;
    for (GenericRecord r : rows) {
      List<GenericRecord> msgs = list(r.get("messages"));
      List<String> dialog = new ArrayList<>();
      for (GenericRecord m : msgs) {
        if (!m.get("role").toString().equals("system")) {
          dialog.add(m.get("role") + ":" + m.get("content"));
        }
      }
      List<GenericRecord> turns = list(r.get("turns"));
      for (int t = 0; t < turns.size(); t++) {
        // what turn t was asked with: the synthesized turns before it, then its user message
        String asked = String.join("\u0001", dialog.subList(0, 2 * t + 1));
        List<String> layer1 = new ArrayList<>();
        List<String> layer2 = new ArrayList<>();
        for (GenericRecord p : list(turns.get(t).get("proposals"))) {
          ((Integer) p.get("layer") == 1 ? layer1 : layer2).add(p.get("content").toString());
        }
        List<RecordedRequest> aggs = byConversation.get(AGG + "\u0000" + asked);
        assertTrue(aggs != null && !aggs.isEmpty(), "an aggregator request with the synthesized history, row "
            + r.get("id") + " turn " + t);
        for (RecordedRequest q : aggs) {
          String system = system(q.messages());
          layer2.forEach(p -> assertTrue(system.contains(p), "aggregator request lacks a layer-2 proposal"));
          checkedAggregator++;
        }
        for (int i = 1; i <= 3; i++) {
          List<RecordedRequest> proposer = byConversation.get("sim-proposer-" + i + "\u0000" + asked);
          assertTrue(proposer != null, "proposer " + i + " was asked turn " + t + " with the synthesized history");
          List<RecordedRequest> refine = proposer.stream().filter(q -> system(q.messages()).contains("Draft 1:")).toList();
          assertFalse(refine.isEmpty(), "a layer-2 request of proposer " + i);
          for (RecordedRequest q : refine) {
            String system = system(q.messages());
            layer1.forEach(p -> assertTrue(system.contains(p), "layer-2 request lacks a layer-1 proposal"));
            checkedRefine++;
          }
        }
      }
    }
    assertTrue(checkedAggregator >= 290, "aggregator requests checked: " + checkedAggregator);
    assertTrue(checkedRefine >= 3 * 290, "layer-2 requests checked: " + checkedRefine);
  }

  @Test
  void parquetShardsCarryMessagesAsAStandardThreeLevelListOfStructs() throws IOException {
    Path shard;
    try (var files = Files.list(work.resolve("out/sft/parquet"))) {
      shard = files.filter(p -> p.toString().endsWith(".parquet")).findFirst().orElseThrow();
    }
    try (ParquetFileReader reader = ParquetFileReader.open(LocalParquet.in(shard))) {
      MessageType schema = reader.getFooter().getFileMetaData().getSchema();
      GroupType messages = schema.getType("messages").asGroupType();
      assertEquals(LogicalTypeAnnotation.listType(), messages.getLogicalTypeAnnotation());
      GroupType repeated = messages.getType(0).asGroupType();
      assertEquals("list", repeated.getName(), "three-level layout: repeated group named list");
      GroupType element = repeated.getType(0).asGroupType();
      assertEquals("element", element.getName());
      assertTrue(element.containsField("role") && element.containsField("content"));
    }
    assertTrue(Files.list(work.resolve("out/sft/avro")).anyMatch(p -> p.toString().endsWith(".avro")));
  }

  private static String nonSystem(List<RecordedRequest.Message> messages) {
    List<String> parts = new ArrayList<>();
    for (RecordedRequest.Message m : messages) {
      if (!m.role().equals("system")) {
        parts.add(m.role() + ":" + m.content());
      }
    }
    return String.join("\u0001", parts);
  }

  private static String system(List<RecordedRequest.Message> messages) {
    return messages.stream().filter(m -> m.role().equals("system")).map(RecordedRequest.Message::content)
        .findFirst().orElse("");
  }

  @SuppressWarnings("unchecked")
  static List<GenericRecord> list(Object o) {
    return (List<GenericRecord>) o;
  }
}
