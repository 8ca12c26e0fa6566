package dev.moaa.transforms.client;

import java.util.regex.Pattern;

/** Removes secrets from text that may reach a log, an exception or a dead letter. */
public final class Redactor {
  private static final Pattern BEARER = Pattern.compile("(?i)(bearer\\s+)[^\\s\"',;]+");
  private static final Pattern AUTH_HEADER =
      Pattern.compile("(?i)(\"?authorization\"?\\s*[:=]\\s*\"?)(?!bearer)[^\\s\"',;]+");
  public static final String MASK = "[REDACTED]";

  private Redactor() {}

  /** Replaces {@code secret} (when non-empty) and anything shaped like an Authorization value. */
  public static String redact(String text, String secret) {
    if (text == null) {
      return null;
    }
    String out = text;
    if (secret != null && !secret.isEmpty()) {
      out = out.replace(secret, MASK);
    }
    out = BEARER.matcher(out).replaceAll("$1" + MASK);
    return AUTH_HEADER.matcher(out).replaceAll("$1" + MASK);
  }
}
