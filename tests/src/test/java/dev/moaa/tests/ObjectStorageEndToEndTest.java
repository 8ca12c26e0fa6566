package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.pipelines.RunFiles;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * A run whose corpus and every output live in an S3-compatible object store: S3Mock, started by
 * this test as a child process on 127.0.0.1 (its executable jar is fetched by the build into
 * target/s3mock), addressed path-style through {@code --endpoint}. The bundled jar runs as a user
 * would run it, with fake keys in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the AWS SDK's
 * default chain). Everything the run wrote is read back from the store: the Parquet shards with
 * parquet-avro, the dead letters, the manifest, the dataset card and the report; then every
 * object, and everything the run printed, is searched for either key.
 */
class ObjectStorageEndToEndTest {
  private static final String BUCKET = "moaa-test";
  private static final String ACCESS_KEY = "AKIAMOAATEST" + random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 8);
  private static final String SECRET_KEY = random("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 40);

  private static Process s3mock;
  private static String endpoint;
  private static S3Client s3;
  private static Path work;

  @BeforeAll
  static void startS3Mock() throws Exception {
    work = Fixtures.workDir("object-storage");
    Path jar = Paths.get("target", "s3mock", "s3mock-exec.jar").toAbsolutePath();
    assertTrue(Files.isRegularFile(jar), "the build copies S3Mock's executable jar to " + jar);
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    endpoint = "http://127.0.0.1:" + port;
    Path root = work.resolve("s3mock-store");
    Files.createDirectories(root);
    s3mock = new ProcessBuilder(javaBin(), "-Xmx256m", "-jar", jar.toString(),
        "--server.address=127.0.0.1", "--server.port=0",
        "--com.adobe.testing.s3mock.httpPort=" + port,
        "--com.adobe.testing.s3mock.domain.initialBuckets=" + BUCKET,
        "--com.adobe.testing.s3mock.domain.retainFilesOnExit=false",
        "--com.adobe.testing.s3mock.domain.root=" + root)
        .redirectErrorStream(true).redirectOutput(work.resolve("s3mock.log").toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!answers(endpoint + "/" + BUCKET)) {
      assertTrue(s3mock.isAlive(), "S3Mock exited: " + Files.readString(work.resolve("s3mock.log")));
      assertTrue(System.nanoTime() < deadline, "S3Mock did not answer within 120 s");
      Thread.sleep(250);
    }
    // the test's own client: the same fake keys, given to the SDK directly (the run finds them in its environment)
    s3 = S3Client.builder().endpointOverride(URI.create(endpoint)).region(Region.US_EAST_1).forcePathStyle(true)
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY, SECRET_KEY)))
        .build();
  }

  @AfterAll
  static void stopS3Mock() throws Exception {
    if (s3 != null) {
      s3.close();
    }
    if (s3mock != null) {
      s3mock.destroy();
      if (!s3mock.waitFor(20, TimeUnit.SECONDS)) {
        s3mock.destroyForcibly();
      }
    }
  }

  @Test
  void givenACorpusInS3_theRunWritesShardsDeadLettersManifestCardAndReportThere_resumesThere_andLeaksNoKey()
      throws Exception {
    StringBuilder a = new StringBuilder();
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 12; i++) {
      (i % 2 == 0 ? a : b).append("{\"prompt\":\"Object storage test ").append(i).append("\"}\n");
    }
    b.append("{not json at all}\n");
    put("in/part-a.jsonl", a.toString());
    put("in/part-b.jsonl", b.toString());
    put("in/notes.txt", "not an input: the glob names *.jsonl only\n");
    Path cache = work.resolve("cache").resolve("responses.sqlite");
    String out = "s3://" + BUCKET + "/runs/r1";
    List<String> printed = new ArrayList<>();
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      Path config = work.resolve("config.yaml");
      Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 1, "") + CacheRuns.sqlite(cache));
      List<String> sft = List.of("sft", "--config=" + config, "--input=s3://" + BUCKET + "/in/*.jsonl",
          "--output=" + out, "--preflight=false", "--endpoint=" + endpoint, "--awsRegion=us-east-1");

      Result first = moaa(sft, "run1");
      printed.add(first.printed());
      assertEquals(0, first.code(), first.printed());
      assertTrue(first.printed().contains("read 13 = written 12 + dead-lettered 1 + dropped 0"), first.printed());
      int requests = sim.requests().size();
      assertTrue(requests >= 36, "every row's two proposals and its aggregate were asked for: " + requests);

      Map<String, S3Object> objects = list("runs/r1/");
      List<String> keys = new ArrayList<>(objects.keySet());
      assertTrue(keys.containsAll(List.of("runs/r1/manifest.json", "runs/r1/" + RunFiles.CARD,
          "runs/r1/" + RunFiles.REPORT, "runs/r1/_run/counts.tsv", "runs/r1/_run/started.json")), keys.toString());
      assertTrue(keys.stream().anyMatch(k -> k.startsWith("runs/r1/sft/parquet/") && k.endsWith(".parquet")), keys.toString());
      assertTrue(keys.stream().anyMatch(k -> k.startsWith("runs/r1/sft/avro/") && k.endsWith(".avro")), keys.toString());
      assertTrue(keys.stream().anyMatch(k -> k.startsWith("runs/r1/dead-letters/") && k.endsWith(".jsonl")), keys.toString());
      assertFalse(keys.stream().anyMatch(k -> k.contains(".temp-beam")), "no temporary object is left: " + keys);

      Path copy = download("runs/r1/", work.resolve("run1-objects"));
      List<GenericRecord> rows = Fixtures.readParquet(copy.resolve("sft/parquet"));
      assertEquals(12, rows.size(), "the Parquet shards, read with parquet-avro");
      List<JsonNode> dead = Fixtures.readJsonLines(copy.resolve("dead-letters"));
      assertEquals(1, dead.size());
      assertTrue(dead.get(0).toString().contains("not json at all"), "the dead letter holds the bad line: " + dead);
      JsonNode manifest = Fixtures.JSON.readTree(copy.resolve("manifest.json").toFile());
      Fixtures.assertReconciles(manifest, 13, 12, 1, 0);
      JsonNode c = manifest.path("counts");
      assertEquals(c.path("read").asLong(), c.path("written").asLong() + c.path("dead_lettered").asLong()
          + c.path("dropped").asLong(), "read = written + dead-lettered + dropped");
      assertEquals(out, manifest.path("output").asText());
      assertEquals(2, manifest.path("shards").path("parquet").size(), "the manifest lists the shards in the store");
      String card = Files.readString(copy.resolve(RunFiles.CARD));
      assertTrue(card.contains(RunFiles.CARD_MARK), "the dataset card");
      assertTrue(card.contains("download_size"), card);
      String report = Files.readString(copy.resolve(RunFiles.REPORT));
      assertTrue(report.contains("<html") && report.contains("</html>"), "the report");

      // the same command again, as on local disk: a finished run's folder is not overwritten
      Result again = moaa(sft, "run2-finished");
      printed.add(again.printed());
      assertEquals(2, again.code(), again.printed());
      assertTrue(again.printed().contains("already holds results of a run"), again.printed());
      assertEquals(objects.get("runs/r1/manifest.json").eTag(), list("runs/r1/").get("runs/r1/manifest.json").eTag(),
          "the finished run's manifest is untouched");

      // a run stopped before its end (no manifest, no card, no report yet) resumes from the same
      // command: its partial outputs are replaced, and every answer comes from the response cache
      for (String k : List.of("manifest.json", RunFiles.CARD, RunFiles.REPORT)) {
        s3.deleteObject(d -> d.bucket(BUCKET).key("runs/r1/" + k));
      }
      Result resumed = moaa(sft, "run3-resumed");
      printed.add(resumed.printed());
      assertEquals(0, resumed.code(), resumed.printed());
      assertTrue(resumed.printed().contains("resuming the unfinished run in " + out), resumed.printed());
      assertEquals(requests, sim.requests().size(), "the resumed run paid for no call again");
      Path copy2 = download("runs/r1/", work.resolve("run3-objects"));
      Fixtures.assertReconciles(Fixtures.JSON.readTree(copy2.resolve("manifest.json").toFile()), 13, 12, 1, 0);
      assertEquals(12, Fixtures.readParquet(copy2.resolve("sft/parquet")).size());
      assertTrue(Files.isRegularFile(copy2.resolve(RunFiles.CARD)) && Files.isRegularFile(copy2.resolve(RunFiles.REPORT)));
    }

    // no key in any object of the bucket, nor in anything a run printed
    Path everything = download("", work.resolve("bucket"));
    List<String> hits = new ArrayList<>();
    try (var files = Files.walk(everything)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        String bytes = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
        if (bytes.contains(ACCESS_KEY) || bytes.contains(SECRET_KEY)) {
          hits.add(everything.relativize(f).toString());
        }
      }
    }
    assertEquals(List.of(), hits, "objects holding a key");
    for (String p : printed) {
      assertFalse(p.contains(ACCESS_KEY) || p.contains(SECRET_KEY), "a run printed a key");
    }
  }

  @Test
  void givenAMissingBucket_theRunStopsBeforeAnythingWithAUsageError() throws Exception {
    put("in2/rows.jsonl", "{\"prompt\":\"one\"}\n");
    Path config = work.resolve("config-missing-bucket.yaml");
    Files.writeString(config, Fixtures.config("http://127.0.0.1:9/v1", 2, 1, 1, ""));
    Result r = moaa(List.of("sft", "--config=" + config, "--input=s3://" + BUCKET + "/in2/rows.jsonl",
        "--output=s3://no-such-bucket/runs/r1", "--preflight=false", "--endpoint=" + endpoint, "--awsRegion=us-east-1"),
        "missing-bucket");
    assertEquals(2, r.code(), r.printed());
    assertTrue(r.printed().contains("cannot use the output folder s3://no-such-bucket/runs/r1"), r.printed());
    assertFalse(r.printed().contains(SECRET_KEY) || r.printed().contains(ACCESS_KEY), r.printed());
  }

  @Test
  void givenNoAwsCredentials_orKeysInAFlag_theRunRefusesWithAUsageErrorNamingTheChain() throws Exception {
    Path config = work.resolve("config-no-keys.yaml");
    Files.writeString(config, Fixtures.config("http://127.0.0.1:9/v1", 2, 1, 1, ""));
    List<String> args = List.of("sft", "--config=" + config, "--input=s3://" + BUCKET + "/in/*.jsonl",
        "--output=s3://" + BUCKET + "/runs/none", "--endpoint=" + endpoint, "--awsRegion=us-east-1");
    Result none = moaa(args, "no-keys", false);
    assertEquals(2, none.code(), none.printed());
    assertTrue(none.printed().contains("needs AWS credentials") && none.printed().contains("AWS_ACCESS_KEY_ID"),
        none.printed());

    List<String> withKeys = new ArrayList<>(args);
    withKeys.add("--awsCredentialsProvider={\"@type\":\"StaticCredentialsProvider\",\"accessKeyId\":\""
        + ACCESS_KEY + "\",\"secretAccessKey\":\"" + SECRET_KEY + "\"}");
    Result flag = moaa(withKeys, "keys-in-flag", false);
    assertEquals(2, flag.code(), flag.printed());
    assertTrue(flag.printed().contains("--awsCredentialsProvider holds keys"), flag.printed());
    assertFalse(flag.printed().contains(SECRET_KEY) || flag.printed().contains(ACCESS_KEY), flag.printed());
  }

  @Test
  void givenAGcsInputWithoutCredentials_gsIsAKnownSchemeAndTheErrorNamesTheCredentials() throws Exception {
    Path config = work.resolve("config-gcs.yaml");
    Files.writeString(config, Fixtures.config("http://127.0.0.1:9/v1", 2, 1, 1, ""));
    Result r = moaa(List.of("sft", "--config=" + config, "--input=gs://moaa-no-such-bucket/in/*.jsonl",
        "--output=" + work.resolve("gcs-out")), "gcs", false);
    assertEquals(2, r.code(), r.printed());
    assertFalse(r.printed().contains("No filesystem found"), r.printed());
    assertTrue(r.printed().contains("needs Google Cloud credentials"), r.printed());
  }

  private record Result(int code, String printed) {}

  private static Result moaa(List<String> args, String name) throws Exception {
    return moaa(args, name, true);
  }

  /**
   * Runs the bundled jar in its own JVM with an environment of its own: no AWS or Google settings of
   * the machine, a home without ~/.aws or gcloud files, and the fake keys when {@code withKeys}.
   */
  private static Result moaa(List<String> args, String name, boolean withKeys) throws Exception {
    Path jar = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();
    assertTrue(Files.exists(jar), "the bundled jar is built before the tests module: " + jar);
    List<String> command = new ArrayList<>(List.of(javaBin(), "-jar", jar.toString()));
    command.addAll(args);
    Path log = work.resolve(name + ".log");
    Path home = work.resolve("home");
    Files.createDirectories(home);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("AWS_") || k.startsWith("GOOGLE_") || k.startsWith("CLOUDSDK_"));
    env.put("HOME", home.toString());
    env.put("AWS_EC2_METADATA_DISABLED", "true");
    env.put("NO_GCE_CHECK", "true");
    if (withKeys) {
      env.put("AWS_ACCESS_KEY_ID", ACCESS_KEY);
      env.put("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    }
    long t0 = System.nanoTime();
    Process p = pb.start();
    assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the run ends");
    String printed = Files.readString(log, StandardCharsets.UTF_8);
    System.out.printf("--- moaa %s (%s): exit %d in %.1f s%n%s%n", args.get(0), name, p.exitValue(),
        (System.nanoTime() - t0) / 1e9, printed);
    return new Result(p.exitValue(), printed);
  }

  private static void put(String key, String text) {
    s3.putObject(r -> r.bucket(BUCKET).key(key), RequestBody.fromString(text, StandardCharsets.UTF_8));
  }

  private static Map<String, S3Object> list(String prefix) {
    Map<String, S3Object> out = new TreeMap<>();
    s3.listObjectsV2Paginator(r -> r.bucket(BUCKET).prefix(prefix)).contents().forEach(o -> out.put(o.key(), o));
    return out;
  }

  /** Copies every object under {@code prefix} into {@code dir}, keeping the key's folders. */
  private static Path download(String prefix, Path dir) throws IOException {
    for (String key : list(prefix).keySet()) {
      Path f = dir.resolve(key.substring(prefix.length()));
      Files.createDirectories(f.getParent());
      Files.write(f, s3.getObjectAsBytes(r -> r.bucket(BUCKET).key(key)).asByteArray());
    }
    return dir;
  }

  private static boolean answers(String url) {
    try {
      HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
      c.setConnectTimeout(500);
      c.setReadTimeout(2000);
      int code = c.getResponseCode();
      c.disconnect();
      return code > 0;
    } catch (IOException e) {
      return false;
    }
  }

  private static String random(String alphabet, int n) {
    SecureRandom r = new SecureRandom();
    StringBuilder s = new StringBuilder();
    for (int i = 0; i < n; i++) {
      s.append(alphabet.charAt(r.nextInt(alphabet.length())));
    }
    return s.toString();
  }

  private static String javaBin() {
    return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
  }
}
