package dev.moaa.runners.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A plain closed-loop load generator: W workers, each posting one chat-completion request, waiting
 * for its answer and posting the next, for a fixed time. It is the yardstick of W4: the rate the
 * simulator and the JVM's HTTP stack sustain on this machine with no pipeline around the calls.
 * Requests look like a proposer's (one user message, the same sampling parameters) and name the
 * models in turn; each body differs, as the pipeline's do.
 */
final class LoadGenerator {

  /** What the generator measured: answers counted after the warm-up only. */
  record Result(int workers, double seconds, long ok, long failed, double requestsPerSecond, double cpuSeconds) {}

  private LoadGenerator() {}

  static Result run(String baseUrl, List<String> models, int workers, double seconds, double warmupSeconds)
      throws InterruptedException {
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    URI uri = URI.create(baseUrl + "/chat/completions");
    AtomicLong ok = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    long start = System.nanoTime();
    long measureFrom = start + (long) (warmupSeconds * 1e9);
    long end = measureFrom + (long) (seconds * 1e9);
    long[] cpuAtMeasure = {-1};
    List<Thread> threads = new ArrayList<>();
    for (int w = 0; w < workers; w++) {
      int worker = w;
      Thread t = new Thread(() -> {
        long n = 0;
        while (true) {
          long now = System.nanoTime();
          if (now >= end) {
            return;
          }
          String model = models.get((int) ((worker + n) % models.size()));
          String body = "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":"
              + "\"Load generator question " + worker + "-" + n
              + ": explain one idea from distributed data processing to a new engineer.\"}],"
              + "\"temperature\":0.7,\"max_tokens\":256}";
          n++;
          try {
            HttpResponse<byte[]> r = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofByteArray());
            if (System.nanoTime() >= measureFrom && System.nanoTime() < end) {
              (r.statusCode() == 200 ? ok : failed).incrementAndGet();
            }
          } catch (java.io.IOException e) {
            failed.incrementAndGet();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          }
        }
      }, "moaa-loadgen-" + w);
      t.setDaemon(true);
      threads.add(t);
      t.start();
    }
    long sleepMs = (measureFrom - System.nanoTime()) / 1_000_000;
    if (sleepMs > 0) {
      Thread.sleep(sleepMs);
    }
    cpuAtMeasure[0] = ProcessProbe.cpuNanos();
    for (Thread t : threads) {
      t.join();
    }
    double cpu = (ProcessProbe.cpuNanos() - cpuAtMeasure[0]) / 1e9;
    return new Result(workers, seconds, ok.get(), failed.get(), ok.get() / seconds, cpu);
  }
}
