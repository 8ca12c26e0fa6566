package dev.moaa.transforms.moa;

import dev.moaa.schemas.Message;
import dev.moaa.transforms.cache.CacheException;
import dev.moaa.transforms.cache.CacheSpec;
import dev.moaa.transforms.cache.ResponseCache;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.StoredAnswer;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.OpenAiChatClient;
import dev.moaa.transforms.client.Usage;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One small request to every distinct model and endpoint of a run before its first row, so that a
 * server that is not there, a key it refuses or a model it does not serve ends the run at once,
 * with what the server said, instead of turning every row into a dead letter. A probe asks for one
 * completion token; its answer is stored in the run's response cache like any call, so a rerun
 * does not pay for it again. The probes of different endpoints go out at once.
 */
public final class Preflight {
  /** The template id of a probe's request: part of its cache key. */
  static final String TEMPLATE = "preflight@v1";
  private static final List<Message> PROBE = List.of(new Message("user", "Reply with one word: ready"));

  private Preflight() {}

  /** What the probe of one model found. {@code usage} is what it was billed (zero from the cache). */
  public record Result(ModelEndpoint endpoint, boolean ok, boolean cached, int httpStatus, String errorKind,
      String detail, Usage usage) {
    /** One line for a person: the model, where it is served and what went wrong. */
    public String describe() {
      String where = "model " + endpoint.name() + " (" + endpoint.modelId() + " at " + endpoint.baseUrl() + ")";
      if (ok) {
        return where + ": ok" + (cached ? " (answer from the cache)" : "");
      }
      String why = switch (errorKind) {
        case "connection" -> "the endpoint cannot be reached";
        case "missing_api_key" -> "its API key is missing";
        case "timeout" -> "the endpoint did not answer in time";
        default -> httpStatus == 401 || httpStatus == 403 ? "the server refused the API key (HTTP " + httpStatus + ")"
            : httpStatus == 404 ? "the server does not know this model or path (HTTP 404)"
            : "the server answered HTTP " + httpStatus;
      };
      return where + ": " + why + ": " + detail;
    }
  }

  /** The endpoint a probe is sent to: the model's own, asking for a single completion token. */
  static ModelEndpoint probeEndpoint(ModelEndpoint m) {
    boolean completionField = m.maxCompletionTokens() != null;
    return m.toBuilder()
        .maxTokens(completionField ? null : 1)
        .maxCompletionTokens(completionField ? 1 : null)
        .build();
  }

  /** Probes every distinct model (same URL, model id and key) once; results in the order given. */
  public static List<Result> check(Collection<ModelEndpoint> models, CacheSpec cacheSpec) {
    Map<String, ModelEndpoint> distinct = new LinkedHashMap<>();
    for (ModelEndpoint m : models) {
      distinct.putIfAbsent(m.baseUrl() + "|" + m.modelId() + "|" + m.apiKeyEnv() + "|" + m.apiKeyFile()
          + "|" + m.revision(), m);
    }
    ResponseCache cache = null;
    if (cacheSpec != null && cacheSpec.enabled()) {
      try {
        cache = ResponseCache.open(cacheSpec);
      } catch (CacheException e) {
        cache = null; // the run's own check of the cache reports it
      }
    }
    try {
      List<CompletableFuture<Result>> pending = new ArrayList<>();
      for (ModelEndpoint m : distinct.values()) {
        ResponseCache c = cache;
        pending.add(CompletableFuture.supplyAsync(() -> probe(m, c)));
      }
      List<Result> out = new ArrayList<>();
      pending.forEach(f -> out.add(f.join()));
      return out;
    } finally {
      if (cache != null) {
        cache.close();
      }
    }
  }

  private static Result probe(ModelEndpoint model, ResponseCache cache) {
    ModelEndpoint m = probeEndpoint(model);
    ChatRequest request = ChatRequest.of(PROBE);
    String key = Calls.requestHash(m, request, TEMPLATE);
    boolean claimed = false;
    if (cache != null) {
      // like any call: a stored answer is used, and a probe another process is sending is waited for
      long deadline = System.currentTimeMillis() + 60_000;
      try {
        while (true) {
          if (cache.get(key) != null) {
            return new Result(model, true, true, 200, null, "ok", Usage.NONE);
          }
          if (cache.claim(key)) {
            claimed = true;
            if (cache.get(key) != null) {
              cache.unclaim(key);
              return new Result(model, true, true, 200, null, "ok", Usage.NONE);
            }
            break;
          }
          if (System.currentTimeMillis() > deadline) {
            break;
          }
          Thread.sleep(50);
        }
      } catch (CacheException e) {
        // a miss: the probe is sent
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    try {
      return send(model, m, request, key, cache);
    } finally {
      if (claimed) {
        cache.unclaim(key);
      }
    }
  }

  private static Result send(ModelEndpoint model, ModelEndpoint m, ChatRequest request, String key,
      ResponseCache cache) {
    OpenAiChatClient client;
    try {
      client = OpenAiChatClient.create(m);
    } catch (ChatException e) {
      return new Result(model, false, false, 0, e.kind().wireName(), e.getMessage(), Usage.NONE);
    }
    try {
      OpenAiChatClient.Probe p = client.probe(request);
      if (p.ok() && cache != null) {
        Usage u = p.usage();
        try {
          cache.put(key, model.name(), StoredAnswer.encode(model.name(),
              new ChatResponse("", "preflight", u.promptTokens(), u.completionTokens(), 1, 0, 0)));
        } catch (CacheException e) {
          // the probe is simply sent again next time
        }
      }
      return new Result(model, p.ok(), false, p.status(), p.ok() ? null : p.failure().wireName(), p.detail(),
          p.usage());
    } finally {
      client.close();
    }
  }
}
