package dev.moaa.transforms.cache;

/** The response cache could not be read or written. */
public final class CacheException extends Exception {
  private static final long serialVersionUID = 1L;

  public CacheException(String message, Throwable cause) {
    super(message, cause);
  }
}
