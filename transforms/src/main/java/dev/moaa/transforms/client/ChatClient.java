package dev.moaa.transforms.client;

/** Sends one chat and returns the answer; implementations retry as their policy says. */
public interface ChatClient extends AutoCloseable {
  ChatResponse complete(ChatRequest request) throws ChatException;

  /**
   * From now on sends nothing new: an attempt not yet sent (waiting at a gate, a retry) fails as
   * not sent; requests already out are answered as usual. Called when the last worker lets go of
   * the client, before it waits for those requests to end.
   */
  default void stopSending() {}

  @Override
  default void close() {}
}
