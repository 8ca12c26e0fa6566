package dev.moaa.transforms.moa;

import dev.moaa.transforms.client.ChatClient;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ClusterGate;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.BatchChatClient;
import dev.moaa.transforms.client.OpenAiChatClient;
import dev.moaa.transforms.limits.Coordinator;
import java.io.Serializable;

/**
 * How a chain's model clients are made: a serializable value handed to a chain transform ({@code
 * withClientFactory(...)}), travelling with its DoFns to the workers. The default, {@link #http()},
 * is the OpenAI-compatible HTTP client, behind the cluster-wide gate when the model's limits are
 * shared through a coordination store, or, for a model with {@code execution: batch}, its Batch API
 * ({@link BatchChatClient}). A client is made once per model and JVM ({@link
 * SharedModelClients}) by the factory of the first chain that opens it.
 */
@FunctionalInterface
public interface ClientFactory extends Serializable {

  /**
   * The client of {@code endpoint}; {@code coordinator} is the model's coordination store, or null.
   * A client that ignores the coordinator does not pass the cluster-wide gate (the budget still
   * goes to the shared ledger).
   */
  ChatClient create(ModelEndpoint endpoint, Coordinator coordinator);

  /** The OpenAI-compatible HTTP client. */
  static ClientFactory http() {
    return Http.INSTANCE;
  }

  /** The HTTP client's factory: one serializable instance. */
  enum Http implements ClientFactory {
    INSTANCE;

    @Override
    public ChatClient create(ModelEndpoint endpoint, Coordinator coordinator) {
      try {
        if (endpoint.batch() != null) {
          return BatchChatClient.create(endpoint);
        }
        return OpenAiChatClient.create(endpoint, coordinator == null ? null : new ClusterGate(coordinator, endpoint));
      } catch (ChatException e) {
        throw new IllegalStateException(e.getMessage());
      }
    }
  }
}
