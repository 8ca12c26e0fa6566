package dev.moaa.transforms.client;

import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Removes secrets from text that may reach a log, an exception, a dead letter or the output of a
 * child process this product prints, with one mask ({@value #MASK}) everywhere: a given key, a
 * value shaped like an Authorization header, and, for a {@link #forEnvironment} instance, the
 * values of the key variables a config names and of every environment variable named like a
 * credential ({@code *API_KEY*}, {@code *TOKEN*}, {@code *SECRET*}, {@code *PASSWORD*}).
 */
public final class Redactor {
  private static final Pattern BEARER = Pattern.compile("(?i)(bearer\\s+)[^\\s\"',;]+");
  private static final Pattern AUTH_HEADER =
      Pattern.compile("(?i)(\"?authorization\"?\\s*[:=]\\s*\"?)(?!bearer)[^\\s\"',;]+");
  private static final Pattern SECRET_NAME =
      Pattern.compile("(?i).*(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL).*");
  private static final int MIN_GENERIC = 8;
  public static final String MASK = "[REDACTED]";

  private final List<String> secrets;

  private Redactor(Collection<String> secrets) {
    this.secrets = secrets.stream().distinct().sorted(Comparator.comparingInt(String::length).reversed()).toList();
  }

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

  /** Masks exactly these values (blank ones are ignored), and Authorization values. */
  public static Redactor of(Collection<String> secrets) {
    return new Redactor(secrets.stream().filter(s -> s != null && !s.isBlank()).map(String::trim).toList());
  }

  /**
   * Masks the values of {@code namedVariables} in {@code env}, and of every variable of {@code env}
   * named like a credential whose value has at least 8 characters.
   */
  public static Redactor forEnvironment(Map<String, String> env, Collection<String> namedVariables) {
    Set<String> values = new LinkedHashSet<>();
    for (String name : namedVariables) {
      if (name != null && env.get(name) != null) {
        values.add(env.get(name));
      }
    }
    env.forEach((k, v) -> {
      if (v != null && v.trim().length() >= MIN_GENERIC && SECRET_NAME.matcher(k).matches()) {
        values.add(v);
      }
    });
    return of(values);
  }

  /** {@code text} with every secret of this instance, and every Authorization value, masked. */
  public String apply(String text) {
    String out = text;
    for (String s : secrets) {
      if (out.contains(s)) {
        out = out.replace(s, MASK);
      }
    }
    return redact(out, null);
  }
}
