package dev.moaa.transforms.moa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ErrorKind;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.junit.jupiter.api.Test;

class CallsTest {
  private static final ChatRequest ASK = ChatRequest.of(List.of(new Message("user", "What makes tides?")));

  @Test
  void theHashNamesEverythingThatChangesTheAnswer_andNothingElse() {
    ModelEndpoint e = ModelEndpoint.builder("p", "http://127.0.0.1:9/v1", "m").temperature(0.7).build();
    String h = Calls.requestHash(e, ASK, "t#1");
    assertEquals(h, Calls.requestHash(e.toBuilder().maxConcurrency(99).build(), ASK, "t#1"), "limits are not the answer");
    assertNotEquals(h, Calls.requestHash(e, ASK, "t#2"), "template version");
    assertNotEquals(h, Calls.requestHash(e, ASK.withSeed(3L), "t#1"), "seed");
    assertNotEquals(h, Calls.requestHash(e, ASK.withN(2), "t#1"), "choices");
    assertNotEquals(h, Calls.requestHash(e.toBuilder().temperature(0.2).build(), ASK, "t#1"), "sampling");
    assertNotEquals(h, Calls.requestHash(ModelEndpoint.builder("p", "http://127.0.0.1:10/v1", "m").temperature(0.7).build(),
        ASK, "t#1"), "endpoint");
    assertNotEquals(h, Calls.requestHash(e.toBuilder().revision("ckpt-2").build(), ASK, "t#1"),
        "another checkpoint behind the same name");
  }

  private static final ModelEndpoint P = ModelEndpoint.builder("p", "http://127.0.0.1:9/v1", "m").build();

  @Test
  void aCallRecordsIts429sApartFromItsAttempts_andWhenItStartedAndEnded() {
    ChatResponse r = new ChatResponse("ok", "stop", 10, 5, 4, 250, 3, List.of("ok"), 2, 1_700_000_000_000L,
        1_700_000_000_250L);
    Call c = Calls.of(P, "proposer", 0, 1, null, ASK, "h", r, null, false);
    assertEquals(4, c.getAttempts());
    assertEquals(2, c.getRateLimited());
    assertEquals(1_700_000_000_000L, c.getStartedAtMs());
    assertEquals(1_700_000_000_250L, c.getEndedAtMs());

    Call cached = Calls.of(P, "proposer", 0, 1, null, ASK, "h", r, null, true);
    assertEquals(0, cached.getRateLimited(), "an answer from the cache met no 429 in this run");

    ChatException f = new ChatException(ErrorKind.RATE_LIMITED, 429, -1, 3, "HTTP 429").withTimes(5L, 9L);
    Call failed = Calls.of(P, "proposer", 0, 1, null, ASK, "h", null, f, false);
    assertEquals(5L, failed.getStartedAtMs());
    assertEquals(9L, failed.getEndedAtMs());

    Call untimed = Calls.of(P, "proposer", 0, 1, null, ASK, "h", new ChatResponse("ok", "stop", 1, 1, 1, 1, 0), null, false);
    assertNull(untimed.getStartedAtMs(), "an unknown start is null, not 1970");
    assertEquals(0, untimed.getRateLimited());
  }

  @Test
  void aCallWrittenBeforeTheTimesAnd429sWereRecorded_readsWithDefaults() throws IOException {
    List<Schema.Field> old = new ArrayList<>();
    for (Schema.Field f : Call.getClassSchema().getFields()) {
      if (!List.of("rate_limited", "started_at_ms", "ended_at_ms").contains(f.name())) {
        old.add(new Schema.Field(f, f.schema()));
      }
    }
    Schema writer = Schema.createRecord("Call", null, "dev.moaa.schemas", false, old);
    GenericRecord r = new GenericData.Record(writer);
    for (Schema.Field f : writer.getFields()) {
      r.put(f.name(), f.hasDefaultValue() ? GenericData.get().getDefaultValue(f) : null);
    }
    r.put("model", "p");
    r.put("model_id", "m");
    r.put("role", "proposer");
    r.put("turn", 0);
    r.put("layer", 1);
    r.put("ok", true);
    r.put("attempts", 3);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BinaryEncoder enc = EncoderFactory.get().binaryEncoder(bytes, null);
    new GenericDatumWriter<GenericRecord>(writer).write(r, enc);
    enc.flush();
    Call read = new SpecificDatumReader<Call>(writer, Call.getClassSchema())
        .read(null, DecoderFactory.get().binaryDecoder(bytes.toByteArray(), null));
    assertEquals(3, read.getAttempts());
    assertEquals(0, read.getRateLimited());
    assertNull(read.getStartedAtMs());
    assertNull(read.getEndedAtMs());
  }
}
