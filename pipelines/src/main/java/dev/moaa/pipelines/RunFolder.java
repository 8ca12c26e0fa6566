package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.transforms.budget.CallLedger;
import dev.moaa.transforms.io.StoragePath;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * What a run owns through its output folder: the folder's run id (the same for every rerun, resume
 * and restart that writes it, so the budget and the {@link CallLedger} belong to the folder), where
 * the ledger is kept, and the lease that lets one run at a time write the folder.
 *
 * <p>The ledger lives in {@code _ledger/} of a local output folder (a resume keeps it; {@code
 * --overwrite} starts it afresh); for an output in object storage, where files cannot be appended
 * to, in {@code ~/.cache/moaa/ledger/RUN_ID} on the machine that starts the run.
 *
 * <p>The lease is the file {@code _lease.json} in the folder, created atomically by the run that
 * takes it and renewed every {@link #HEARTBEAT}; a second run finds it and stops with the holder's
 * host, process, command and start. A lease whose holder is gone (a process of this host that no
 * longer runs, or a heartbeat older than {@link #STALE}) is taken over, and the run says so.
 */
public final class RunFolder {
  public static final String LEDGER_DIR = "_ledger";
  public static final String LEASE_FILE = "_lease.json";
  static final Duration HEARTBEAT = Duration.ofSeconds(5);
  static final Duration STALE = Duration.ofSeconds(30);
  private static final ObjectMapper JSON = new ObjectMapper();

  private RunFolder() {}

  /** The folder's run id: a hash of where it is, stable across reruns. */
  public static String runId(StoragePath output) {
    String where = output.isLocal() ? output.localPath().toAbsolutePath().normalize().toString() : output.toString();
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(where.getBytes(StandardCharsets.UTF_8));
      return "folder-" + HexFormat.of().formatHex(d, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Where the folder's call ledger is kept (an absolute local path). */
  public static Path ledgerDir(StoragePath output) {
    if (output.isLocal()) {
      return output.localPath().toAbsolutePath().normalize().resolve(LEDGER_DIR);
    }
    return Paths.get(System.getProperty("user.home"), ".cache", "moaa", "ledger", runId(output));
  }

  /** {@code config} bound to {@code output}'s run id and ledger, for the launch {@code launch}. */
  public static MoaaConfig bind(MoaaConfig config, StoragePath output, String launch) {
    return config.forFolder(runId(output), launch, ledgerDir(output).toString());
  }

  /** A new launch id: one start of one command. */
  public static String newLaunch() {
    return UUID.randomUUID().toString();
  }

  /** The ledger of {@code output}: every request any launch that wrote it sent. */
  public static CallLedger.Summary ledger(StoragePath output) throws IOException {
    return CallLedger.read(ledgerDir(output));
  }

  /** A run's hold on its output folder; {@link #close()} gives it back. */
  public static final class Lease implements AutoCloseable {
    private final Path file;
    private final ObjectNode owner;
    private final ScheduledExecutorService heartbeat;
    private final boolean madeTheFolder;

    private Lease(Path file, ObjectNode owner, boolean madeTheFolder) {
      this.file = file;
      this.owner = owner;
      this.madeTheFolder = madeTheFolder;
      this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "moaa-folder-lease");
        t.setDaemon(true);
        return t;
      });
      heartbeat.scheduleWithFixedDelay(this::renew, HEARTBEAT.toMillis(), HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Writes the Flink job this run waits for into the lease ({@code flink_job}, {@code
     * flink_master}), so that {@code moaa cancel --output=...} can cancel it.
     */
    public synchronized void recordJob(String jobId, String flinkMaster) {
      owner.put("flink_job", jobId);
      owner.put("flink_master", flinkMaster);
      renew();
    }

    /**
     * Gives the lease back and, when this run made the output folder (a run that stopped before
     * processing anything: a preflight that found an endpoint it cannot use, a usage error),
     * removes it, so that it leaves nothing behind; returns what the folder's ledger held then (the
     * probes' requests and cost, for the run to say), or null when the folder stays.
     */
    public synchronized CallLedger.Totals closeLeavingNothing() {
      close();
      if (!madeTheFolder) {
        return null;
      }
      Path dir = file.getParent();
      try {
        CallLedger.Totals spent = CallLedger.read(dir.resolve(LEDGER_DIR)).all();
        RunCommand.deleteRecursively(dir);
        return spent;
      } catch (IOException e) {
        return null; // left as it is: the ledger could not be read
      }
    }

    /** Who holds it, in words. */
    public String holder() {
      return describe(owner);
    }

    private synchronized void renew() {
      if (!ours()) {
        return;
      }
      owner.put("heartbeat_at", Instant.now().toString());
      try {
        replace(file, owner);
      } catch (IOException e) {
        // the next heartbeat tries again; a lease not renewed for STALE may be taken over
      }
    }

    private boolean ours() {
      try {
        JsonNode now = JSON.readTree(Files.readString(file));
        return owner.path("launch").asText().equals(now.path("launch").asText());
      } catch (IOException e) {
        return false;
      }
    }

    @Override
    public synchronized void close() {
      heartbeat.shutdownNow();
      if (ours()) {
        try {
          Files.deleteIfExists(file);
        } catch (IOException e) {
          // a lease left behind is taken over once its heartbeat is stale
        }
      }
    }
  }

  /**
   * Takes the lease on a local output folder for the launch {@code launch} of {@code command};
   * null for an output in object storage (no atomic create there: one run per folder is the
   * user's to keep). Throws {@link IllegalStateException} naming the holder when another run holds it.
   */
  public static Lease lease(StoragePath output, String command, String launch, PrintStream out) {
    if (!output.isLocal()) {
      return null;
    }
    Path dir = output.localPath().toAbsolutePath().normalize();
    Path file = dir.resolve(LEASE_FILE);
    ObjectNode owner = JSON.createObjectNode();
    owner.put("host", host());
    owner.put("pid", ProcessHandle.current().pid());
    owner.put("launch", launch);
    owner.put("command", command);
    owner.put("started_at", Instant.now().toString());
    owner.put("heartbeat_at", Instant.now().toString());
    try {
      boolean existed = Files.isDirectory(dir);
      Files.createDirectories(dir);
      for (int attempt = 0; attempt < 3; attempt++) {
        try {
          Files.writeString(file, owner.toString() + "\n", java.nio.file.StandardOpenOption.CREATE_NEW,
              java.nio.file.StandardOpenOption.WRITE);
          return new Lease(file, owner, !existed);
        } catch (FileAlreadyExistsException held) {
          JsonNode holder;
          try {
            holder = JSON.readTree(Files.readString(file));
          } catch (IOException | RuntimeException unreadable) {
            holder = null; // being written this very moment, or a torn file: looked at again
          }
          if (holder == null || !holder.isObject()) {
            if (attempt == 2) {
              Files.deleteIfExists(file);
            }
            Thread.sleep(200);
            continue;
          }
          String gone = gone(holder);
          if (gone == null) {
            throw new IllegalStateException("output folder " + output + " is being written by another run: "
                + describe(holder) + "; wait for it to end or stop it (for a job submitted to a cluster:"
                + " moaa cancel --output=" + output + "), or choose another folder");
          }
          out.println("taking over the lease of output folder " + output + " from " + describe(holder) + ": " + gone);
          Files.deleteIfExists(file);
        }
      }
      throw new IllegalStateException("cannot take the lease of output folder " + output + " (" + file
          + " keeps changing: another run is starting there)");
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot write to the output folder " + output + ": " + e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while taking the lease of " + output);
    }
  }

  /** The holder of {@code output}'s lease, as its file says; empty when none holds it. */
  public static java.util.Optional<JsonNode> holder(StoragePath output) {
    if (!output.isLocal()) {
      return java.util.Optional.empty();
    }
    Path file = output.localPath().toAbsolutePath().normalize().resolve(LEASE_FILE);
    try {
      JsonNode n = JSON.readTree(Files.readString(file));
      return n != null && n.isObject() && gone(n) == null ? java.util.Optional.of(n) : java.util.Optional.empty();
    } catch (IOException e) {
      return java.util.Optional.empty();
    }
  }

  /** The holder's process, when it runs on this host. */
  public static java.util.Optional<ProcessHandle> holderProcess(JsonNode holder) {
    if (!host().equals(holder.path("host").asText())) {
      return java.util.Optional.empty();
    }
    return ProcessHandle.of(holder.path("pid").asLong(-1)).filter(ProcessHandle::isAlive);
  }

  /** Why the holder of a lease is gone, or null when it may still be running. */
  private static String gone(JsonNode holder) {
    long pid = holder.path("pid").asLong(-1);
    if (host().equals(holder.path("host").asText()) && pid > 0
        && ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true)) {
      return "its process " + pid + " no longer runs on this host";
    }
    Instant beat;
    try {
      beat = Instant.parse(holder.path("heartbeat_at").asText());
    } catch (RuntimeException e) {
      return "its lease file has no heartbeat";
    }
    Duration since = Duration.between(beat, Instant.now());
    return since.compareTo(STALE) > 0 ? "its last heartbeat was " + since.toSeconds() + " s ago" : null;
  }

  static String describe(JsonNode holder) {
    return "'" + holder.path("command").asText("moaa") + "' (process " + holder.path("pid").asText("?") + " on host "
        + holder.path("host").asText("?") + ", started " + holder.path("started_at").asText("?") + ", launch "
        + holder.path("launch").asText("?") + ")";
  }

  private static void replace(Path file, JsonNode content) throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + "." + ProcessHandle.current().pid() + ".tmp");
    Files.writeString(tmp, content.toString() + "\n");
    try {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static String host() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }
}
