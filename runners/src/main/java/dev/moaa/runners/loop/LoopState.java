package dev.moaa.runners.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.List;

/**
 * {@code OUTPUT/loop.json}: what {@code moaa run} did and what it may skip next time. Each step has
 * a status ({@code pending}, {@code running}, {@code done}, {@code skipped}, {@code failed}), its
 * timings, and the fingerprint of its completed output: a hash of everything it was made from
 * (its config, inputs, recipe and the fingerprint of the step before), cleared when the step
 * starts again. Written after every change, by a rename, so a killed loop leaves a readable file.
 */
final class LoopState {
  static final String FILE = "loop.json";
  static final List<String> STEPS = List.of("sft-data", "sft-train", "serve-policy", "dpo-data", "dpo-train");
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final Path file;
  private final ObjectNode root;

  private LoopState(Path file, ObjectNode root) {
    this.file = file;
    this.root = root;
  }

  /** Reads the state a former loop left in {@code dir}, keeping its fingerprints, or starts a new one. */
  static LoopState open(Path dir, Path config, String configHash) {
    Path f = dir.resolve(FILE);
    ObjectNode old = null;
    if (Files.isRegularFile(f)) {
      try {
        JsonNode n = JSON.readTree(f.toFile());
        old = n instanceof ObjectNode o ? o : null;
      } catch (IOException e) {
        old = null; // unreadable: every step is checked afresh
      }
    }
    ObjectNode root = JSON.createObjectNode();
    root.put("product", "moaa-beam");
    root.put("command", "run");
    root.put("config", config.toString());
    root.put("config_hash", configHash);
    root.put("status", "running");
    root.put("started_at", Instant.now().toString());
    root.putNull("finished_at");
    root.putNull("failed_step");
    root.putNull("error");
    ObjectNode steps = root.putObject("steps");
    for (String s : STEPS) {
      ObjectNode step = steps.putObject(s);
      step.put("status", "pending");
      JsonNode before = old == null ? null : old.path("steps").path(s).get("fingerprint");
      if (before != null && before.isTextual()) {
        step.put("fingerprint", before.asText());
      } else {
        step.putNull("fingerprint");
      }
      if (old != null && old.path("steps").path(s).path("status").isTextual()) {
        step.put("last_status", old.path("steps").path(s).path("status").asText());
      }
    }
    return new LoopState(f, root);
  }

  ObjectNode step(String name) {
    return (ObjectNode) root.path("steps").path(name);
  }

  /** How the step ended in the loop before this one ({@code failed}, {@code done}, …), or null. */
  String lastStatus(String name) {
    JsonNode f = step(name).get("last_status");
    return f == null || f.isNull() ? null : f.asText();
  }

  /** The fingerprint of the step's last completed output, or null. */
  String fingerprint(String name) {
    JsonNode f = step(name).get("fingerprint");
    return f == null || f.isNull() ? null : f.asText();
  }

  void started(String name) {
    ObjectNode s = step(name);
    s.put("status", "running");
    s.putNull("fingerprint");
    s.put("started_at", Instant.now().toString());
    save();
  }

  void done(String name, String fingerprint, double seconds) {
    ObjectNode s = step(name);
    s.put("status", "done");
    s.put("fingerprint", fingerprint);
    s.put("seconds", round(seconds));
    s.put("finished_at", Instant.now().toString());
    save();
  }

  void skipped(String name, String why) {
    ObjectNode s = step(name);
    s.put("status", "skipped");
    s.put("reason", why);
    save();
  }

  void failed(String name, String error, double seconds) {
    ObjectNode s = step(name);
    s.put("status", "failed");
    s.put("seconds", round(seconds));
    s.put("error", error);
    root.put("failed_step", name);
    root.put("error", error);
    save();
  }

  void put(String key, String value) {
    root.put(key, value);
    save();
  }

  void finish(String status, double seconds) {
    root.put("status", status);
    root.put("finished_at", Instant.now().toString());
    root.put("wall_seconds", round(seconds));
    save();
  }

  Path file() {
    return file;
  }

  private static double round(double s) {
    return Math.round(s * 10) / 10.0;
  }

  private void save() {
    try {
      Files.createDirectories(file.getParent());
      Path tmp = file.resolveSibling(FILE + ".tmp");
      Files.writeString(tmp, JSON.writeValueAsString(root) + "\n", StandardCharsets.UTF_8);
      try {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }
}
