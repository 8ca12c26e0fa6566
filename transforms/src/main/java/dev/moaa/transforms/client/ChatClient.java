package dev.moaa.transforms.client;

/** Sends one chat and returns the answer; implementations retry as their policy says. */
public interface ChatClient extends AutoCloseable {
  ChatResponse complete(ChatRequest request) throws ChatException;

  /**
   * As {@link #complete(ChatRequest)}, handing the answer to {@code arrived} as soon as it is in,
   * before anything else the client does on the way out (a client on a cluster gives its shared
   * slot back only after: the answer is stored first, so a worker killed in between has lost less).
   */
  default ChatResponse complete(ChatRequest request, java.util.function.Consumer<ChatResponse> arrived)
      throws ChatException {
    ChatResponse r = complete(request);
    arrived.accept(r);
    return r;
  }

  /**
   * From now on sends nothing new: an attempt not yet sent (waiting at a gate, a retry) fails as
   * not sent; requests already out are answered as usual. Called when the last worker lets go of
   * the client, before it waits for those requests to end.
   */
  default void stopSending() {}

  @Override
  default void close() {}
}
