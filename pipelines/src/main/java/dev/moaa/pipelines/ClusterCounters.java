package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.transforms.moa.CallMetrics;
import java.io.IOException;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The run's counters ({@code rows_read}, {@code calls/MODEL}, ...) of a job running on a Flink
 * cluster, as the cluster's metrics show them while it runs: Beam's Flink runner registers each
 * counter as a Flink metric of its step ({@code STEP.moaa_calls/agg}), which the JobManager
 * collects from the TaskManagers every {@code metrics.fetcher.update-interval} and sums over a
 * step's subtasks on request. The job's accumulators, which hold the same counters at the end, are
 * empty while a streaming job runs, so a progress line reads these instead.
 */
public final class ClusterCounters {
  private static final String PREFIX = "." + CallMetrics.NAMESPACE + "_";

  private final String base;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  /** For the job {@code jobId} on the cluster whose REST API is {@code restAddress} ({@code HOST:PORT}). */
  public ClusterCounters(String restAddress, String jobId) {
    this.base = "http://" + restAddress + "/jobs/" + jobId;
  }

  /** The counters summed over every step and subtask; those not published yet are absent. */
  public Map<String, Long> read() {
    Map<String, Long> sums = new TreeMap<>();
    try {
      for (JsonNode v : get(base).path("vertices")) {
        String vertex = base + "/vertices/" + v.path("id").asText() + "/subtasks/metrics";
        List<String> ours = new ArrayList<>();
        for (JsonNode m : get(vertex)) {
          String id = m.path("id").asText();
          if (id.contains(PREFIX)) {
            ours.add(id);
          }
        }
        if (ours.isEmpty()) {
          continue;
        }
        StringBuilder names = new StringBuilder();
        for (String id : ours) {
          names.append(names.length() == 0 ? "" : ",").append(URLEncoder.encode(id, StandardCharsets.UTF_8));
        }
        for (JsonNode m : get(vertex + "?agg=sum&get=" + names)) {
          String id = m.path("id").asText();
          JsonNode sum = m.path("sum");
          if (sum.isNumber()) {
            sums.merge(id.substring(id.indexOf(PREFIX) + PREFIX.length()), sum.asLong(), Long::sum);
          }
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException("the cluster's metrics could not be read: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the cluster's metrics", e);
    }
    return sums;
  }

  private JsonNode get(String url) throws IOException, InterruptedException {
    return JobEnd.get(http, url);
  }
}
