package dev.moaa.runners.loop;

/** A loop step that did not complete; the message says why (its output was printed already). */
final class StepFailure extends Exception {
  private static final long serialVersionUID = 1L;

  StepFailure(String message) {
    super(message);
  }
}
