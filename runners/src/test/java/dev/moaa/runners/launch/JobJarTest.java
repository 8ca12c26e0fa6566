package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.jar.JarFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** When a Flink submission may leave its jar behind: only for a cluster that names that very jar. */
class JobJarTest {
  private HttpServer server;
  private final AtomicReference<String> config = new AtomicReference<>("[]");

  private String startJobManager() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/jobmanager/config", exchange -> {
      byte[] body = config.get().getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().add("Content-Type", "application/json");
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    server.start();
    return "127.0.0.1:" + server.getAddress().getPort();
  }

  @AfterEach
  void stop() {
    if (server != null) {
      server.stop(0);
    }
  }

  private static Path jar(Path dir, String name, long mtime) throws IOException {
    Path jar = dir.resolve(name);
    Files.write(jar, new byte[] {1, 2, 3});
    Files.setLastModifiedTime(jar, FileTime.fromMillis(mtime));
    return jar;
  }

  @Test
  void aClusterNamingThisJar_getsAJarWithoutClasses(@TempDir Path dir) throws IOException {
    Path jar = jar(dir, "moaa.jar", 1_700_000_000_000L);
    String master = startJobManager();
    config.set("[{\"key\":\"rest.port\",\"value\":\"1\"},{\"key\":\"" + JobJar.CONFIG_KEY + "\",\"value\":\""
        + JobJar.id(jar) + "\"}]");

    Optional<Path> staged = JobJar.stageFor(master, jar);

    assertTrue(staged.isPresent(), "the cluster holds this jar: nothing needs to travel");
    try (JarFile j = new JarFile(staged.get().toFile())) {
      assertEquals(0, j.stream().filter(e -> e.getName().endsWith(".class")).count(), "no classes in the staged jar");
      assertEquals("on the cluster's class path", j.getManifest().getMainAttributes().getValue("Moaa-Job-Classes"));
    }
  }

  @Test
  void aClusterOfAnotherBuild_orOfNoJobJar_orNotAnswering_getsTheWholeJar(@TempDir Path dir) throws IOException {
    Path jar = jar(dir, "moaa.jar", 1_700_000_000_000L);
    Path rebuilt = jar(dir, "rebuilt.jar", 1_700_000_000_999L);
    assertNotEquals(JobJar.id(jar), JobJar.id(rebuilt), "a rebuilt jar has another identity");
    String master = startJobManager();

    config.set("[{\"key\":\"" + JobJar.CONFIG_KEY + "\",\"value\":\"" + JobJar.id(rebuilt) + "\"}]");
    assertEquals(Optional.empty(), JobJar.stageFor(master, jar), "another build's classes: ship ours");

    config.set("[{\"key\":\"rest.port\",\"value\":\"1\"}]");
    assertEquals(Optional.empty(), JobJar.stageFor(master, jar), "a cluster without job classes");

    server.stop(0);
    server = null;
    assertEquals(Optional.empty(), JobJar.stageFor(master, jar), "no answer");
    assertEquals(Optional.empty(), JobJar.stageFor("[local]", jar), "not a REST address");
  }
}
