package dev.moaa.transforms.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LocalCoordinatorTest extends CoordinatorContract {

  @Override
  Coordination coordination(String key) {
    return Coordination.inJvm(key);
  }

  @Test
  void stateInThisJvmNeedsNoStore_andCountsNoRoundTrips() {
    Coordinator c = open(coordination(freshKey()));
    assertInstanceOf(LocalCoordinator.class, c);
    assertFalse(c.coordination().shared());
    c.release(c.tryAcquireSlot("m", 1));
    assertEquals(0, c.roundTrips());
    assertEquals("this JVM", c.coordination().location());
  }

  @Test
  void oneCoordinatorPerSpecIsSharedInAJvm_andClosedByItsLastRelease() {
    Coordination spec = coordination(freshKey());
    Coordinator first = SharedCoordinators.acquire(spec);
    Coordinator second = SharedCoordinators.acquire(spec);
    assertSame(first, second);
    SharedCoordinators.release(spec);
    first.tryAcquireSlot("m", 1);
    SharedCoordinators.release(spec);
    assertThrows(IllegalStateException.class, () -> first.tryAcquireSlot("m", 1));
  }

  @Test
  void specsAreValidatedWhenBuilt() {
    assertThrows(IllegalArgumentException.class, () -> Coordination.inJvm("has{brace}"));
    assertThrows(IllegalArgumentException.class, () -> Coordination.inJvm(""));
    assertThrows(IllegalArgumentException.class, () -> Coordination.inJvm("k").withLeaseTtl(Duration.ofMillis(10)));
    assertThrows(IllegalArgumentException.class, () -> Coordination.redis("http://host:1", "k"));
    assertThrows(IllegalArgumentException.class, () -> Coordination.redis("redis://host:1/x", "k"));
    assertEquals(Coordination.redis("redis://h:1/0", "k"), Coordination.redis("redis://h:1/0", "k"));
  }
}
