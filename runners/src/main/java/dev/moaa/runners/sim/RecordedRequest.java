package dev.moaa.runners.sim;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One chat-completion request as the simulated endpoint saw it, for tests to inspect.
 *
 * <p>The Authorization header is never kept: only whether it was accepted.
 *
 * @param model the requested model, or {@code null} when the body had none (or was not JSON)
 * @param messages the request's messages as role/content pairs, in order (text parts of array
 *     contents are joined with a newline; a null content reads as "")
 * @param params every other top-level field of the body, as plain Java values (maps, lists,
 *     strings, numbers, booleans, nulls), read-only
 * @param authorized whether the request passed the API key check (always true when none is set)
 * @param status the HTTP status the endpoint answered with
 * @param attempt which attempt of this exact body it was (1, 2, ...) among the requests that got
 *     past authentication, validation and the concurrency cap (a 429 drawn by the load-independent
 *     429 rate has one); 0 for a request stopped before
 * @param order the arrival order of the request since the endpoint started (1, 2, ...)
 * @param arrivedAtNanos when the request reached the endpoint ({@link System#nanoTime()})
 * @param answeredAtNanos when the endpoint answered it ({@link System#nanoTime()}; after the
 *     time queued and the simulated latency for an admitted request, at once for one turned away)
 * @param queuedMs how long the request waited in its model's queue before being processed, in
 *     queueing mode; 0 otherwise
 */
public record RecordedRequest(
    String model,
    List<Message> messages,
    Map<String, Object> params,
    boolean authorized,
    int status,
    int attempt,
    long order,
    long arrivedAtNanos,
    long answeredAtNanos,
    long queuedMs) {

  /** Copies what it is given, so a recorded request never changes. */
  public RecordedRequest {
    messages = List.copyOf(messages);
    params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
  }

  /** The role and text content of one message. */
  public record Message(String role, String content) {

    /** Both parts are required; an absent content is recorded as "". */
    public Message {
      Objects.requireNonNull(role, "role");
      Objects.requireNonNull(content, "content");
    }
  }
}
