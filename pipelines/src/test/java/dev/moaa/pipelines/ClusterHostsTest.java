package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.moaa.transforms.cache.CacheSpec;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ClusterHostsTest {
  /** A stand-in for a Flink REST API that answers {@code /taskmanagers} with TaskManagers at {@code hosts}. */
  private static HttpServer rest(String... hosts) throws Exception {
    HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    StringBuilder body = new StringBuilder("{\"taskmanagers\":[");
    for (int i = 0; i < hosts.length; i++) {
      body.append(i > 0 ? "," : "").append("{\"id\":\"tm-").append(i).append("\",\"path\":\"pekko.tcp://flink@")
          .append(hosts[i]).append(":4").append(i).append("123/user/rpc/taskmanager_0\",\"slotsNumber\":2}");
    }
    byte[] answer = body.append("]}").toString().getBytes(StandardCharsets.UTF_8);
    s.createContext("/taskmanagers", x -> {
      x.sendResponseHeaders(200, answer.length);
      x.getResponseBody().write(answer);
      x.close();
    });
    s.start();
    return s;
  }

  private static RunTarget cluster(HttpServer s) {
    return new RunTarget("FlinkRunner", false, "127.0.0.1:" + s.getAddress().getPort(), 4);
  }

  @Test
  void givenTaskManagersOnAnotherHost_anSqliteCacheIsRefusedNamingBothChoices() throws Exception {
    HttpServer s = rest("127.0.0.1", "10.20.30.40");
    try {
      assertEquals(Optional.of(Set.of("127.0.0.1", "10.20.30.40")),
          ClusterHosts.taskManagerHosts("127.0.0.1:" + s.getAddress().getPort()));
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> ClusterHosts.checkCacheReachesEveryTaskManager(CacheSpec.sqlite("/tmp/c.sqlite"), cluster(s)));
      assertTrue(e.getMessage().contains("10.20.30.40"), e.getMessage());
      assertTrue(e.getMessage().contains("backend: redis") && e.getMessage().contains("backend: none"), e.getMessage());
      assertDoesNotThrow(() -> ClusterHosts.checkCacheReachesEveryTaskManager(CacheSpec.none(), cluster(s)));
    } finally {
      s.stop(0);
    }
  }

  @Test
  void givenEveryTaskManagerOnThisHost_orARunInThisJvm_theSqliteCacheIsKept() throws Exception {
    HttpServer s = rest("127.0.0.1", "localhost", InetAddress.getLocalHost().getHostName());
    try {
      assertDoesNotThrow(() -> ClusterHosts.checkCacheReachesEveryTaskManager(CacheSpec.sqlite("/tmp/c.sqlite"),
          cluster(s)));
    } finally {
      s.stop(0);
    }
    assertDoesNotThrow(() -> ClusterHosts.checkCacheReachesEveryTaskManager(CacheSpec.sqlite("/tmp/c.sqlite"),
        RunTarget.directRunner()));
    assertDoesNotThrow(() -> ClusterHosts.checkCacheReachesEveryTaskManager(CacheSpec.sqlite("/tmp/c.sqlite"),
        new RunTarget("FlinkRunner", false, "[local]", 4)));
    assertFalse(ClusterHosts.isThisHost("10.20.30.40"));
    assertTrue(ClusterHosts.isThisHost("127.0.0.1"));
  }
}
