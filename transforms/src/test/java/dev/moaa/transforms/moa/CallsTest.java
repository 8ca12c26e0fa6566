package dev.moaa.transforms.moa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.moaa.schemas.Message;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.List;
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
}
