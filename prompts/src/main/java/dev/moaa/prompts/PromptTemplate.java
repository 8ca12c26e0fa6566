package dev.moaa.prompts;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A versioned prompt template loaded from this module's resources, for example {@code
 * aggregator/v1}. Placeholders are written {@code {{name}}}; {@code {{proposals}}} is filled with
 * numbered drafts by {@link #renderWithProposals}.
 *
 * <p>Every template is identified by {@link #version()}: its path plus the first 8 hex characters
 * of the SHA-256 of its text, so an edited file can never pass for the old version in lineage
 * columns or cache keys.
 */
public final class PromptTemplate implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{([a-z_]+)}}");
  private static final Pattern ID = Pattern.compile("[a-z_]+(/[a-z_]+)*/v[0-9]+");
  private static final Map<String, PromptTemplate> LOADED = new ConcurrentHashMap<>();

  /** The aggregator's instruction: synthesize one reply from numbered drafts. */
  public static final String AGGREGATOR_V1 = "aggregator/v1";
  /** A proposer of layer 2 and above: answer again with the previous layer's drafts as references. */
  public static final String PROPOSER_REFINE_V1 = "proposer/refine/v1";

  private final String id;
  private final String text;
  private final String version;

  private PromptTemplate(String id, String text) {
    this.id = id;
    this.text = text;
    this.version = id + "#" + sha256(text).substring(0, 8);
  }

  /** Loads the template {@code id} (e.g. {@code aggregator/v1}) once per JVM. */
  public static PromptTemplate load(String id) {
    Objects.requireNonNull(id, "template id");
    if (!ID.matcher(id).matches()) {
      throw new IllegalArgumentException(
          "Template id '" + id + "' is not of the form role[/variant]/vN, e.g. aggregator/v1");
    }
    return LOADED.computeIfAbsent(id, PromptTemplate::read);
  }

  /** Builds a template from text, for tests and user-supplied templates. */
  public static PromptTemplate of(String id, String text) {
    return new PromptTemplate(id, text);
  }

  private static PromptTemplate read(String id) {
    String path = "/dev/moaa/prompts/" + id + ".txt";
    try (InputStream in = PromptTemplate.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalArgumentException("No prompt template '" + id + "' (looked for " + path + ")");
      }
      return new PromptTemplate(id, new String(in.readAllBytes(), StandardCharsets.UTF_8).strip());
    } catch (IOException e) {
      throw new IllegalStateException("Cannot read prompt template " + path, e);
    }
  }

  public String id() {
    return id;
  }

  /** {@code id#sha8}: what output rows record as the template version. */
  public String version() {
    return version;
  }

  public String text() {
    return text;
  }

  /** Fills every placeholder from {@code values}; a placeholder without a value is an error. */
  public String render(Map<String, String> values) {
    Matcher m = PLACEHOLDER.matcher(text);
    StringBuilder out = new StringBuilder(text.length() + 256);
    while (m.find()) {
      String value = values.get(m.group(1));
      if (value == null) {
        throw new IllegalArgumentException(
            "Template " + id + " needs a value for {{" + m.group(1) + "}}");
      }
      m.appendReplacement(out, Matcher.quoteReplacement(value));
    }
    m.appendTail(out);
    return out.toString();
  }

  /**
   * Fills {@code {{proposals}}} with the drafts, numbered from 1 in the given order, each as
   * {@code "Draft N:"} on its own line followed by the text.
   */
  public String renderWithProposals(List<String> proposals) {
    return render(Map.of("proposals", formatProposals(proposals)));
  }

  static String formatProposals(List<String> proposals) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < proposals.size(); i++) {
      if (i > 0) {
        b.append("\n\n");
      }
      b.append("Draft ").append(i + 1).append(":\n").append(proposals.get(i).strip());
    }
    return b.toString();
  }

  private static String sha256(String s) {
    try {
      return HexFormat.of()
          .formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public String toString() {
    return version;
  }
}
