package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.transforms.cache.CacheSpec;
import java.io.IOException;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which hosts a Flink cluster's TaskManagers run on, from its REST API ({@code GET /taskmanagers}:
 * each TaskManager's RPC address), and whether a response cache held in a file of this host can
 * serve them all.
 */
final class ClusterHosts {
  /** {@code pekko.tcp://flink@HOST:PORT/user/rpc/taskmanager_0} (akka before Flink 1.18). */
  private static final Pattern RPC_HOST = Pattern.compile("^[a-z.]+://[^@/]+@\\[?([^\\]/:@]+)\\]?:\\d+");

  private ClusterHosts() {}

  /** The hosts of the cluster's TaskManagers; empty when the REST API does not answer. */
  static Optional<Set<String>> taskManagerHosts(String restAddress) {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build();
    try {
      JsonNode tms = JobEnd.get(http, "http://" + restAddress + "/taskmanagers").path("taskmanagers");
      Set<String> hosts = new TreeSet<>();
      for (JsonNode tm : tms) {
        Matcher m = RPC_HOST.matcher(tm.path("path").asText(""));
        if (m.find()) {
          hosts.add(m.group(1));
        }
      }
      return Optional.of(hosts);
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** Whether {@code host} names this machine (a loopback or one of its own addresses or names). */
  static boolean isThisHost(String host) {
    try {
      InetAddress local = InetAddress.getLocalHost();
      if (host.equalsIgnoreCase("localhost") || host.equalsIgnoreCase(local.getHostName())
          || host.equalsIgnoreCase(local.getCanonicalHostName())) {
        return true;
      }
    } catch (UnknownHostException e) {
      // judged by the addresses below
    }
    InetAddress a;
    try {
      a = InetAddress.getByName(host);
    } catch (UnknownHostException e) {
      return false;
    }
    if (a.isLoopbackAddress() || a.isAnyLocalAddress()) {
      return true;
    }
    try {
      for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
        for (InetAddress own : Collections.list(ni.getInetAddresses())) {
          if (own.equals(a)) {
            return true;
          }
        }
      }
    } catch (SocketException e) {
      return false;
    }
    return false;
  }

  /**
   * Refuses, before anything is submitted, a cluster run whose response cache is an SQLite file of
   * this host while some of the cluster's TaskManagers run on other hosts: a task restarted there
   * would find none of the answers already paid for and pay for them again (and could not open the
   * file at all). A cluster whose TaskManagers all run here keeps the file, at an absolute path.
   */
  static void checkCacheReachesEveryTaskManager(CacheSpec cache, RunTarget target) {
    if (cache.backend() != CacheSpec.Backend.SQLITE || target.direct() || target.embeddedFlink()) {
      return;
    }
    Optional<String> rest = JobEnd.flinkRestAddress(target.flinkMaster());
    if (rest.isEmpty()) {
      return;
    }
    Optional<Set<String>> hosts = taskManagerHosts(rest.get());
    if (hosts.isEmpty()) {
      return; // the submission itself says that the cluster cannot be reached
    }
    List<String> elsewhere = hosts.get().stream().filter(h -> !isThisHost(h)).toList();
    if (!elsewhere.isEmpty()) {
      throw new IllegalArgumentException("the response cache is an SQLite file on this host (" + cache
          + "), but TaskManagers of the cluster at " + rest.get() + " run on " + String.join(", ", elsewhere)
          + ": a task restarted there would find none of the answers already paid for and pay for them again."
          + " Use a cache every TaskManager reaches (cache: {backend: redis, url: redis://HOST:6379}), or accept"
          + " paying again after a failure with cache: {backend: none}");
    }
  }
}
