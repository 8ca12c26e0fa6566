package dev.moaa.transforms.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.StoredAnswer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SqliteResponseCacheTest {
  @TempDir Path dir;

  private static byte[] enc(ChatResponse r) {
    return StoredAnswer.encode("m", r);
  }

  private static ChatResponse dec(byte[] raw) throws java.io.IOException {
    return raw == null ? null : StoredAnswer.decode(raw);
  }

  private static ChatResponse answer(String text) {
    return new ChatResponse(text, "stop", 11, 7, 2, 340, 1, List.of(text, text + " (second choice)"));
  }

  @Test
  void anAnswerIsStoredWithItsUsage_andSurvivesReopening() throws Exception {
    Path file = dir.resolve("nested/folder/answers.sqlite");
    try (SqliteResponseCache c = SqliteResponseCache.open(file.toString())) {
      assertNull(dec(c.get("k1")));
      c.put("k1", "m", enc(answer("hello")));
    }
    try (SqliteResponseCache c = SqliteResponseCache.open(file.toString())) {
      ChatResponse r = dec(c.get("k1"));
      assertEquals("hello", r.content());
      assertEquals("stop", r.finishReason());
      assertEquals(11, r.promptTokens());
      assertEquals(7, r.completionTokens());
      assertEquals(List.of("hello", "hello (second choice)"), r.choices());
      assertEquals(1, c.size());
    }
  }

  @Test
  void anAnswersReasoningAndEstimatedUsage_areStoredWithIt() throws Exception {
    try (SqliteResponseCache c = SqliteResponseCache.open(dir.resolve("r.sqlite").toString())) {
      c.put("k", "m", enc(new ChatResponse("Paris.", "stop", 9, 30, 1, 100, 0, List.of("Paris."), 0, 0, 0,
          "The capital of France...", 25, true)));
      ChatResponse r = dec(c.get("k"));
      assertEquals("The capital of France...", r.reasoning());
      assertEquals(25, r.reasoningTokens());
      assertTrue(r.usageEstimated());
      c.put("plain", "m", enc(answer("x")));
      assertNull(dec(c.get("plain")).reasoning());
    }
  }

  @Test
  void theFirstWriterWins() throws Exception {
    try (SqliteResponseCache c = SqliteResponseCache.open(dir.resolve("a.sqlite").toString())) {
      c.put("k", "m", enc(answer("first")));
      c.put("k", "m", enc(answer("second")));
      assertEquals("first", dec(c.get("k")).content());
    }
  }

  @Test
  void manyThreadsWriteAndReadConcurrently_andEveryAnswerIsThere() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(16);
    try (SqliteResponseCache c = SqliteResponseCache.open(dir.resolve("b.sqlite").toString())) {
      List<Future<?>> done = new ArrayList<>();
      for (int t = 0; t < 16; t++) {
        int thread = t;
        done.add(pool.submit(() -> {
          for (int i = 0; i < 100; i++) {
            String key = thread + ":" + i;
            c.put(key, "m", enc(answer("answer " + key)));
            if (!("answer " + key).equals(dec(c.get(key)).content())) {
              throw new AssertionError("read back another answer for " + key);
            }
          }
          return null;
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
      assertEquals(1600, c.size());
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twoOpenHandlesOnOneFile_seeEachOthersWrites() throws Exception {
    String file = dir.resolve("shared.sqlite").toString();
    try (SqliteResponseCache a = SqliteResponseCache.open(file); SqliteResponseCache b = SqliteResponseCache.open(file)) {
      a.put("x", "m", enc(answer("from a")));
      assertEquals("from a", dec(b.get("x")).content());
      assertTrue(b.claim("x"), "a file-backed cache never makes a caller wait");
    }
  }
}
