package dev.moaa.transforms.client;

/** Sends one chat and returns the answer; implementations retry as their policy says. */
public interface ChatClient extends AutoCloseable {
  ChatResponse complete(ChatRequest request) throws ChatException;

  @Override
  default void close() {}
}
