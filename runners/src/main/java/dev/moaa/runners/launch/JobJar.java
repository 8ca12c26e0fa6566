package dev.moaa.runners.launch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.pipelines.JobEnd;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Optional;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

/**
 * The job jar of a Flink submission, and when it need not travel.
 *
 * <p>A Flink job normally ships its jar: the client uploads it to the JobManager's blob server and
 * every TaskManager downloads it and loads the job's classes into a class loader of its own, for
 * every job. For the 159 MB {@code moaa.jar} that is about 2 s of upload and 2 s of download and
 * class loading on every run of a local cluster. A cluster started by {@code moaa flink-cluster
 * start} therefore keeps a copy of the jar it was started from on the class path of each of its
 * processes (Flink's "user code in lib" set-up) and names that jar's identity ({@link #id(Path)}) in
 * its configuration under {@value #CONFIG_KEY}, which its REST API lists. A client that runs from
 * the same jar then stages a small jar with no classes instead ({@link #emptyJar()}); a client of any
 * other build, or a cluster that holds no job classes, stages its own jar as before, and Flink's
 * child-first class loading makes the job's own classes win over the cluster's.
 */
public final class JobJar {
  /** The configuration key under which a local cluster names the jar on its class path. */
  public static final String CONFIG_KEY = "moaa.job-jar.id";

  private static final ObjectMapper JSON = new ObjectMapper();
  private static Path emptyJar;

  private JobJar() {}

  /**
   * The identity of a jar file: its size and modification time. A rebuilt jar gets a new one; a
   * copy of it keeps the identity of the file it was copied from only where the caller says so.
   */
  public static String id(Path jar) {
    try {
      return Files.size(jar) + "-" + Files.getLastModifiedTime(jar).toMillis();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + jar, e);
    }
  }

  /** The jar this code was loaded from, when it was loaded from a jar file (not from a build's class folders). */
  public static Optional<Path> running() {
    try {
      Path p = Paths.get(JobJar.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      return Files.isRegularFile(p) && p.getFileName().toString().endsWith(".jar") ? Optional.of(p) : Optional.empty();
    } catch (Exception e) {
      return Optional.empty();
    }
  }

  /**
   * The jar to stage for a submission to {@code flinkMaster} ({@code HOST:PORT} of a REST API): a
   * jar without classes when the cluster names {@code jar}'s identity under {@value #CONFIG_KEY};
   * empty (stage as usual) when it names another, names none, or does not answer within two
   * seconds.
   */
  public static Optional<Path> stageFor(String flinkMaster, Path jar) {
    Optional<String> clusterJar = clusterJobJar(flinkMaster);
    if (clusterJar.isEmpty() || !clusterJar.get().equals(id(jar))) {
      return Optional.empty();
    }
    return Optional.of(emptyJar());
  }

  /** The identity of the job jar the cluster at {@code flinkMaster} holds on its class path, if it names one. */
  static Optional<String> clusterJobJar(String flinkMaster) {
    Optional<String> address = JobEnd.flinkRestAddress(flinkMaster);
    if (address.isEmpty()) {
      return Optional.empty();
    }
    URI uri = URI.create("http://" + address.get() + "/jobmanager/config");
    try {
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 200) {
        return Optional.empty();
      }
      for (JsonNode entry : JSON.readTree(r.body())) {
        if (CONFIG_KEY.equals(entry.path("key").asText())) {
          return Optional.of(entry.path("value").asText()).filter(v -> !v.isBlank());
        }
      }
      return Optional.empty();
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** A jar holding only a manifest, made once per JVM in the temporary folder and removed at exit. */
  public static synchronized Path emptyJar() {
    if (emptyJar != null && Files.isRegularFile(emptyJar)) {
      return emptyJar;
    }
    try {
      Path jar = Files.createTempFile("moaa-job-classes-on-cluster-", ".jar");
      jar.toFile().deleteOnExit();
      Manifest manifest = new Manifest();
      manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
      manifest.getMainAttributes().putValue("Moaa-Job-Classes", "on the cluster's class path");
      try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, manifest)) {
        j.flush();
      }
      emptyJar = jar;
      return jar;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write a jar to the temporary folder", e);
    }
  }
}
