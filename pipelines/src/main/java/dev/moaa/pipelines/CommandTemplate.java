package dev.moaa.pipelines;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A command line written as one string in the config (a training or serve command), split into
 * words once, when the config is read. Splitting follows the shell's quoting rules (single quotes,
 * double quotes, backslash) but no shell ever sees the command: there are no variables, globs,
 * pipes or redirections, and a template that needs them says so itself ({@code sh -c '…'}).
 *
 * <p>{@code {name}} placeholders are replaced inside each word <em>after</em> the split, so a value
 * holding spaces, quotes or semicolons stays one argument and is never interpreted. A word that is
 * exactly a list placeholder ({@code {data}}, {@code {args}}) becomes one argument per value (none
 * for an empty list); a list placeholder inside a longer word is replaced by its values joined with
 * commas. A scalar placeholder without a value becomes the empty string. {@code {{} and {@code }}}
 * write literal braces.
 */
public final class CommandTemplate {
  private final String source;
  private final List<String> words;

  private CommandTemplate(String source, List<String> words) {
    this.source = source;
    this.words = words;
  }

  /**
   * Splits {@code template} and checks its placeholders.
   *
   * @param scalars placeholder names that take one value
   * @param lists placeholder names that take a list of values
   * @throws IllegalArgumentException for an empty template, an unclosed quote, an unknown or
   *     unclosed placeholder
   */
  public static CommandTemplate parse(String template, Set<String> scalars, Set<String> lists) {
    List<String> words = split(template);
    if (words.isEmpty()) {
      throw new IllegalArgumentException("the command is empty");
    }
    Set<String> known = new TreeSet<>(scalars);
    known.addAll(lists);
    for (String w : words) {
      for (String name : placeholders(w)) {
        if (!known.contains(name)) {
          throw new IllegalArgumentException("unknown placeholder {" + name + "}; known: "
              + known.stream().map(n -> "{" + n + "}").toList());
        }
      }
    }
    return new CommandTemplate(template, List.copyOf(words));
  }

  /** The template as written in the config. */
  public String source() {
    return source;
  }

  /** The words before substitution (placeholders still in place, quotes removed). */
  public List<String> words() {
    return words;
  }

  /** The argument vector: every placeholder replaced, see the class comment. */
  public List<String> render(Map<String, String> scalars, Map<String, List<String>> lists) {
    List<String> argv = new ArrayList<>();
    for (String w : words) {
      if (w.length() > 2 && w.startsWith("{") && w.endsWith("}") && lists.containsKey(w.substring(1, w.length() - 1))
          && placeholders(w).size() == 1) {
        argv.addAll(lists.get(w.substring(1, w.length() - 1)));
        continue;
      }
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < w.length(); i++) {
        char c = w.charAt(i);
        if ((c == '{' || c == '}') && i + 1 < w.length() && w.charAt(i + 1) == c) {
          b.append(c);
          i++;
        } else if (c == '{') {
          int end = w.indexOf('}', i);
          String name = w.substring(i + 1, end);
          if (lists.containsKey(name)) {
            b.append(String.join(",", lists.get(name)));
          } else {
            String v = scalars.get(name);
            b.append(v == null ? "" : v);
          }
          i = end;
        } else {
          b.append(c);
        }
      }
      argv.add(b.toString());
    }
    return argv;
  }

  /** Placeholder names in one word, in order. */
  static List<String> placeholders(String word) {
    List<String> names = new ArrayList<>();
    for (int i = 0; i < word.length(); i++) {
      char c = word.charAt(i);
      if ((c == '{' || c == '}') && i + 1 < word.length() && word.charAt(i + 1) == c) {
        i++;
      } else if (c == '{') {
        int end = word.indexOf('}', i);
        if (end < 0) {
          throw new IllegalArgumentException("unclosed placeholder in '" + word + "' (write {{ for a literal brace)");
        }
        String name = word.substring(i + 1, end);
        if (!name.matches("[a-z_]+")) {
          throw new IllegalArgumentException("bad placeholder {" + name + "} in '" + word + "' (write {{ for a literal brace)");
        }
        names.add(name);
        i = end;
      } else if (c == '}') {
        throw new IllegalArgumentException("unmatched } in '" + word + "' (write }} for a literal brace)");
      }
    }
    return names;
  }

  /** Shell-style word splitting without expansion: '…' literal, "…" with \" and \\, \x outside quotes. */
  static List<String> split(String s) {
    List<String> words = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    boolean inWord = false;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\'') {
        int end = s.indexOf('\'', i + 1);
        if (end < 0) {
          throw new IllegalArgumentException("unclosed single quote in the command");
        }
        cur.append(s, i + 1, end);
        inWord = true;
        i = end;
      } else if (c == '"') {
        int j = i + 1;
        for (; j < s.length() && s.charAt(j) != '"'; j++) {
          char d = s.charAt(j);
          if (d == '\\' && j + 1 < s.length() && (s.charAt(j + 1) == '"' || s.charAt(j + 1) == '\\')) {
            cur.append(s.charAt(++j));
          } else {
            cur.append(d);
          }
        }
        if (j >= s.length()) {
          throw new IllegalArgumentException("unclosed double quote in the command");
        }
        inWord = true;
        i = j;
      } else if (c == '\\') {
        if (i + 1 >= s.length()) {
          throw new IllegalArgumentException("the command ends with a lone backslash");
        }
        char next = s.charAt(++i);
        if (next != '\n') {
          cur.append(next);
          inWord = true;
        }
      } else if (Character.isWhitespace(c)) {
        if (inWord) {
          words.add(cur.toString());
          cur.setLength(0);
          inWord = false;
        }
      } else {
        cur.append(c);
        inWord = true;
      }
    }
    if (inWord) {
      words.add(cur.toString());
    }
    return words;
  }

  /** One argument vector as a shell would need it typed: words with special characters single-quoted. */
  public static String display(List<String> argv) {
    StringBuilder b = new StringBuilder();
    for (String a : argv) {
      if (b.length() > 0) {
        b.append(' ');
      }
      if (!a.isEmpty() && a.matches("[A-Za-z0-9_@%+=:,./-]+")) {
        b.append(a);
      } else {
        b.append('\'').append(a.replace("'", "'\\''")).append('\'');
      }
    }
    return b.toString();
  }

  @Override
  public String toString() {
    return source;
  }
}
