package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.client.OpenAiChatClient;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/** Builds {@link Call} lineage records and call hashes. */
public final class Calls {
  private Calls() {}

  /**
   * The call's identity: SHA-256 of the endpoint URL, the exact request body (model id, messages,
   * sampling parameters, seed), the template version and the model's revision, if it has one. Equal hashes mean the same paid call.
   */
  public static String requestHash(ModelEndpoint endpoint, ChatRequest request, String template) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      d.update(endpoint.baseUrl().getBytes(StandardCharsets.UTF_8));
      d.update((byte) 0);
      d.update(OpenAiChatClient.requestBody(endpoint, request));
      d.update((byte) 0);
      d.update(String.valueOf(template).getBytes(StandardCharsets.UTF_8));
      if (endpoint.revision() != null) {
        d.update((byte) 0);
        d.update(endpoint.revision().getBytes(StandardCharsets.UTF_8));
      }
      return HexFormat.of().formatHex(d.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The calls of one submitted request as it ended: the call itself and, when its answer needed
   * one, the repair call (role {@code role + "_repair"}, rendered from {@code repairTemplate}).
   */
  public static List<Call> of(ModelEndpoint endpoint, String role, int turn, int layer, String template,
      ChatRequest request, String requestHash, String repairTemplate, SharedModelClients.Outcome o) {
    Call call = of(endpoint, role, turn, layer, template, request, requestHash, o.response(), o.failure(), o.cached());
    if (o.repairRequest() == null) {
      return List.of(call);
    }
    Call repair = of(endpoint, role + "_repair", turn, layer, repairTemplate, o.repairRequest(), o.repairHash(),
        o.repairResponse(), o.repairFailure(), o.repairCached());
    return List.of(call, repair);
  }

  /**
   * The lineage record of a call as it ended: its answer ({@code response}) or its failure, its
   * attempts and how many of them were answered 429, its tokens, and its wall-clock start and end
   * when known. {@code cached} marks an answer from the response cache (nothing was paid, no 429).
   */
  public static Call of(ModelEndpoint endpoint, String role, int turn, int layer, String template,
      ChatRequest request, String requestHash, ChatResponse response, ChatException failure, boolean cached) {
    Call.Builder b = Call.newBuilder()
        .setModel(endpoint.name())
        .setModelId(endpoint.modelId())
        .setRole(role)
        .setTurn(turn)
        .setLayer(layer)
        .setTemplate(template)
        .setSeed(request.seed() != null ? request.seed() : endpoint.seed())
        .setRequestHash(requestHash)
        .setCached(cached && response != null);
    if (response != null) {
      return b.setOk(true)
          .setContent(response.content())
          .setChoices(response.choices().size() > 1 ? response.choices() : List.of())
          .setFinishReason(response.finishReason())
          .setTruncated(response.truncated())
          .setPromptTokens(response.promptTokens())
          .setCompletionTokens(response.completionTokens())
          .setAttempts(response.attempts())
          .setRateLimited(cached ? 0 : response.rateLimited())
          .setLatencyMs(response.latencyMs())
          .setReasoning(response.reasoning())
          .setReasoningTokens(response.reasoningTokens())
          .setUsageEstimated(response.usageEstimated())
          .setStartedAtMs(epochMs(response.startedAtMs()))
          .setEndedAtMs(epochMs(response.endedAtMs()))
          .build();
    }
    return b.setOk(false)
        .setAttempts(failure.attempts())
        .setPromptTokens(failure.usage().promptTokens())
        .setCompletionTokens(failure.usage().completionTokens())
        .setReasoningTokens(failure.usage().reasoningTokens())
        .setUsageEstimated(failure.usage().estimated())
        .setRateLimited(failure.rateLimited())
        .setStartedAtMs(epochMs(failure.startedAtMs()))
        .setEndedAtMs(epochMs(failure.endedAtMs()))
        .setErrorKind(failure.kind().wireName())
        .setError(failure.getMessage())
        .build();
  }

  /** A wall-clock time for a Call record: null when unknown (0). */
  private static Long epochMs(long ms) {
    return ms > 0 ? ms : null;
  }
}
