package dev.moaa.transforms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.moaa.schemas.Message;
import java.io.FileInputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Certificates are checked: an HTTPS endpoint with a certificate nobody vouches for is refused. */
class TlsVerificationTest {
  @TempDir Path dir;

  @Test
  void anEndpointWithASelfSignedCertificate_isRefusedBeforeAnyKeyIsSent() throws Exception {
    Path store = dir.resolve("server.p12");
    Process keytool = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "keytool").toString(),
        "-genkeypair", "-keyalg", "RSA", "-keysize", "2048", "-alias", "sim", "-keystore", store.toString(),
        "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit", "-dname", "CN=127.0.0.1",
        "-validity", "2", "-ext", "SAN=ip:127.0.0.1").redirectErrorStream(true).start();
    assertTrue(keytool.waitFor(60, TimeUnit.SECONDS) && keytool.exitValue() == 0,
        new String(keytool.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(store.toFile())) {
      ks.load(in, "changeit".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, "changeit".toCharArray());
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(kmf.getKeyManagers(), null, null);
    HttpsServer server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(tls));
    AtomicInteger reached = new AtomicInteger();
    server.createContext("/", x -> {
      reached.incrementAndGet();
      x.sendResponseHeaders(500, -1);
      x.close();
    });
    server.start();
    try {
      ModelEndpoint e = ModelEndpoint.builder("m", "https://127.0.0.1:" + server.getAddress().getPort() + "/v1", "x")
          .retry(RetryPolicy.of(1, 0, 0)).build();
      OpenAiChatClient client = OpenAiChatClient.create(e, "sk-never-sent-0123456789", ms -> { });
      ChatException failure = assertThrows(ChatException.class,
          () -> client.complete(ChatRequest.of(List.of(new Message("user", "hi")))));
      client.close();
      assertEquals(ErrorKind.CONNECTION, failure.kind());
      assertTrue(failure.getMessage().contains("SSL"), failure.getMessage());
      assertEquals(0, reached.get(), "no request got through the refused handshake");
    } finally {
      server.stop(0);
    }
  }
}
