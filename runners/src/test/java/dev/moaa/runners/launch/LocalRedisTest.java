package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import org.junit.jupiter.api.Test;

/** The test's own redis-server (Debian package, installed by ./run-tests). */
class LocalRedisTest {
  @Test
  void aPortAnotherProcessHolds_isToldApart_andStartTakesAnother() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      LocalRedis.PortTaken e = assertThrows(LocalRedis.PortTaken.class, () -> LocalRedis.startOn(taken.getLocalPort()));
      assertTrue(e.getMessage().contains(String.valueOf(taken.getLocalPort())), e.getMessage());
    }
    try (LocalRedis redis = LocalRedis.start()) {
      assertTrue(redis.serverPid() > 0, "the server says which process it is");
      assertEquals(redis.url(), "redis://127.0.0.1:" + redis.port());
    }
  }
}
