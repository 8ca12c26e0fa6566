package dev.moaa.transforms;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SharedResourcesTest {
  @Test
  void theFirstAcquireOpens_everyLaterOneShares_andTheLastReleaseClosesOnce() {
    AtomicInteger opened = new AtomicInteger();
    AtomicInteger closed = new AtomicInteger();
    String key = "k-" + System.nanoTime();
    Object a = SharedResources.acquire("test", key, () -> new Object() {{ opened.incrementAndGet(); }},
        v -> closed.incrementAndGet());
    Object b = SharedResources.acquire("test", key, Object::new, v -> closed.incrementAndGet());
    assertSame(a, b);
    assertEquals(1, opened.get());
    assertSame(a, SharedResources.peek("test", key));
    assertFalse(SharedResources.release("test", key, a));
    assertEquals(0, closed.get());
    assertTrue(SharedResources.release("test", key, a));
    assertEquals(1, closed.get());
    assertNull(SharedResources.peek("test", key));
    assertFalse(SharedResources.release("test", key, a), "a release too many changes nothing");
    assertEquals(1, closed.get());
  }

  @Test
  void anOpenThatFails_holdsNothing() {
    String key = "fails-" + System.nanoTime();
    assertThrows(java.io.IOException.class, () -> SharedResources.acquire("test", key, () -> {
      throw new java.io.IOException("no");
    }, v -> { }));
    assertNull(SharedResources.peek("test", key));
  }
}
