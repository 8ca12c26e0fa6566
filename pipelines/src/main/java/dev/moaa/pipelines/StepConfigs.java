package dev.moaa.pipelines;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The config files {@code moaa run} hands to its data steps, derived from the user's file: the
 * sections a pipeline reads, without {@code train}, {@code serve} and {@code loop} (so editing a
 * recipe or the serve command does not make the data look stale, and the manifest's config hash
 * names exactly what the pipeline ran with). The DPO step's file also points the policy at the
 * served SFT model.
 */
public final class StepConfigs {
  /** The model entry the DPO step's policy becomes (a suffix is added if the file already uses it). */
  public static final String SERVED_POLICY = "served-policy";

  private static final ObjectMapper YAML = new ObjectMapper(
      new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER));
  private static final List<String> LOOP_ONLY = List.of("train", "serve", "loop");

  private StepConfigs() {}

  /** The user's file without the loop's own sections, as YAML. */
  public static String sftData(Path configFile) {
    ObjectNode root = read(configFile);
    root.remove(LOOP_ONLY);
    return write(root);
  }

  /**
   * The user's file for the DPO step: a new model entry, the policy's settings (defaults merged in)
   * with {@code base_url} and {@code model} of the served checkpoint, no price (a local server) and
   * the serve key variable (or none), and {@code revision} naming the checkpoint so that cached
   * answers of another checkpoint served under the same name are never reused; {@code dpo.policy} names it. Judges keep their own entries,
   * even one that is also the policy. {@code defaults} is merged into every model, so a default key
   * variable does not reach the served policy.
   */
  public static String dpoData(Path configFile, String baseUrl, String modelId, String apiKeyEnv, String revision) {
    ObjectNode root = read(configFile);
    root.remove(LOOP_ONLY);
    ObjectNode models = (ObjectNode) root.path("models");
    String policy = root.path("dpo").path("policy").asText();
    if (!models.has(policy)) {
      throw new ConfigException("dpo.policy", "unknown model '" + policy + "'");
    }
    mergeDefaults(root);
    ObjectNode served = ((ObjectNode) models.get(policy)).deepCopy();
    served.put("base_url", baseUrl);
    served.put("model", modelId);
    served.remove("price");
    served.put("revision", revision); // the checkpoint's answers are cached apart from any other's
    served.remove("api_key_env");
    if (apiKeyEnv != null) {
      served.put("api_key_env", apiKeyEnv);
    }
    String name = SERVED_POLICY;
    for (int i = 2; models.has(name); i++) {
      name = SERVED_POLICY + "-" + i;
    }
    models.set(name, served);
    ((ObjectNode) root.get("dpo")).put("policy", name);
    return write(root);
  }

  /**
   * The SFT step's file of a self-improvement round: the user's file with one more model entry,
   * {@code name}, served at {@code baseUrl} as {@code modelId} (the defaults' settings, no price, the
   * serve key variable, {@code revision} naming the checkpoint), in the SFT roles {@code roles}
   * ({@code proposer}: one more proposer; {@code aggregator}: the aggregator).
   */
  public static String sftDataJoined(Path configFile, String name, String baseUrl, String modelId, String apiKeyEnv,
      String revision, List<String> roles) {
    ObjectNode root = read(configFile);
    root.remove(LOOP_ONLY);
    ObjectNode models = (ObjectNode) root.path("models");
    if (models.has(name)) {
      throw new ConfigException("models." + name, "is the name the loop gives an earlier round's model; rename it");
    }
    JsonNode defaults = mergeDefaults(root);
    ObjectNode joined = servedEntry(defaults, new Served(name, baseUrl, modelId, apiKeyEnv, revision));
    models.set(name, joined);
    ObjectNode sft = (ObjectNode) root.get("sft");
    if (roles.contains("proposer")) {
      ((com.fasterxml.jackson.databind.node.ArrayNode) sft.withArray("proposers")).add(name);
    }
    if (roles.contains("aggregator")) {
      sft.put("aggregator", name);
    }
    return write(root);
  }

  /** A checkpoint served for a step: its entry name, URL, model id, key variable and revision. */
  public record Served(String name, String baseUrl, String modelId, String apiKeyEnv, String revision) {}

  /**
   * The file of a head-to-head between served checkpoints: the user's file (its judge) with one
   * entry per served model, set up as {@link #sftDataJoined} sets up a joined model.
   */
  public static String compare(Path configFile, List<Served> served) {
    ObjectNode root = read(configFile);
    root.remove(LOOP_ONLY);
    ObjectNode models = (ObjectNode) root.path("models");
    JsonNode defaults = mergeDefaults(root);
    for (Served s : served) {
      if (models.has(s.name())) {
        throw new ConfigException("models." + s.name(), "is the name the loop gives a round's model; rename it");
      }
      models.set(s.name(), servedEntry(defaults, s));
    }
    return write(root);
  }

  /**
   * Merges {@code defaults} into every model entry and removes the section (so that a default key
   * variable does not reach a locally served model added afterwards); returns what it held.
   */
  private static JsonNode mergeDefaults(ObjectNode root) {
    JsonNode defaults = root.path("defaults");
    ObjectNode models = (ObjectNode) root.path("models");
    for (Iterator<Map.Entry<String, JsonNode>> it = models.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      ObjectNode merged = defaults.isObject() ? ((ObjectNode) defaults).deepCopy() : YAML.createObjectNode();
      e.getValue().fields().forEachRemaining(f -> merged.set(f.getKey(), f.getValue()));
      e.setValue(merged);
    }
    root.remove("defaults");
    return defaults;
  }

  /** A served checkpoint's entry: the defaults' settings, its URL, model and revision, no price, its key variable. */
  private static ObjectNode servedEntry(JsonNode defaults, Served s) {
    ObjectNode e = defaults.isObject() ? ((ObjectNode) defaults).deepCopy() : YAML.createObjectNode();
    e.put("base_url", s.baseUrl());
    e.put("model", s.modelId());
    e.put("revision", s.revision());
    for (String f : List.of("price", "api_key_env", "api_key_file", "execution", "batch")) {
      e.remove(f);
    }
    if (s.apiKeyEnv() != null) {
      e.put("api_key_env", s.apiKeyEnv());
    }
    return e;
  }

  private static ObjectNode read(Path configFile) {
    try {
      JsonNode root = YAML.readTree(Files.readString(configFile, StandardCharsets.UTF_8));
      if (root == null || !root.isObject()) {
        throw new ConfigException("(file)", "expected a mapping");
      }
      return (ObjectNode) root;
    } catch (IOException e) {
      throw new ConfigException("--config", "cannot read " + configFile + ": " + e.getMessage());
    }
  }

  private static String write(ObjectNode root) {
    try {
      return "# Written by `moaa run` from the loop's config: the sections this data step reads.\n"
          + YAML.writeValueAsString(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
