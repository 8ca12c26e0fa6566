package dev.moaa.runners.training;

import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Masks secret values in text this product prints about a child process: its command line and
 * every line of its output. The secrets are the values of the key variables the config names and
 * of any environment variable whose name marks it as a credential ({@code *API_KEY*}, {@code
 * *TOKEN*}, {@code *SECRET*}, {@code *PASSWORD*}). Children still inherit the environment; only
 * what this process writes is masked.
 */
public final class Redactor {
  public static final String MASK = "***";
  private static final Pattern SECRET_NAME =
      Pattern.compile("(?i).*(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL).*");
  private static final int MIN_GENERIC = 8;

  private final List<String> secrets;

  private Redactor(Collection<String> secrets) {
    this.secrets = secrets.stream().distinct().sorted(Comparator.comparingInt(String::length).reversed()).toList();
  }

  /** Masks exactly these values (blank ones are ignored). */
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

  public String apply(String text) {
    String out = text;
    for (String s : secrets) {
      if (out.contains(s)) {
        out = out.replace(s, MASK);
      }
    }
    return out;
  }
}
