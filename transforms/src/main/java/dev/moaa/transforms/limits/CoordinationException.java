package dev.moaa.transforms.limits;

/**
 * The coordination store cannot be reached or refused an operation. Unchecked on purpose: a caller
 * that gets it must stop sending calls (a run without its shared limits and budget would spend N
 * times what the user set), not carry on unlimited. Messages never hold the store's password.
 */
public final class CoordinationException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CoordinationException(String message, Throwable cause) {
    super(message, cause);
  }
}
