package dev.moaa.pipelines;

/** A configuration problem, with the path of the field at fault (e.g. {@code models.a.base_url}). */
public final class ConfigException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final String path;

  public ConfigException(String path, String message) {
    super(path + ": " + message);
    this.path = path;
  }

  public String path() {
    return path;
  }
}
