package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Set;

/**
 * The {@code serve:} section: how {@code moaa run} serves the SFT checkpoint as the DPO policy.
 *
 * <pre>
 * serve:
 *   command: "vllm serve {checkpoint} --port {port} --served-model-name {model}"
 *   port: 8011               # on 127.0.0.1 (default 8011); must be free when the server starts
 *   model: moaa-sft          # the model name the policy requests carry (default: the checkpoint path,
 *                            # which is the name vLLM serves a path under)
 *   ready_timeout_s: 600     # how long to wait for GET /v1/models to answer 200 (default 600)
 *   stop_timeout_s: 30       # how long a stop waits after SIGTERM before SIGKILL (default 30)
 *   api_key_env: VLLM_KEY    # NAME of the variable with the key the server wants (default: none)
 * </pre>
 */
public record ServeSettings(CommandTemplate command, int port, String model, int readyTimeoutS, int stopTimeoutS,
    String apiKeyEnv) {
  public static final Set<String> PLACEHOLDERS = Set.of("checkpoint", "port", "model");
  private static final Set<String> KEYS = Set.of("command", "port", "model", "ready_timeout_s", "stop_timeout_s",
      "api_key_env");

  /** Parses the section; {@code null} when the file has none. */
  static ServeSettings parse(JsonNode n) {
    if (n.isMissingNode()) {
      return null;
    }
    String p = "serve";
    MoaaConfig.onlyKnown(n, p, KEYS);
    CommandTemplate command;
    try {
      command = CommandTemplate.parse(MoaaConfig.text(MoaaConfig.required(n, "command", p), "command", p),
          PLACEHOLDERS, Set.of());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(p + ".command", e.getMessage());
    }
    String model = n.has("model") ? MoaaConfig.text(n, "model", p) : null;
    String keyEnv = null;
    if (n.has("api_key_env")) {
      keyEnv = MoaaConfig.text(n, "api_key_env", p);
      if (!keyEnv.matches("[A-Za-z_][A-Za-z0-9_]*")) {
        throw new ConfigException(p + ".api_key_env", "must be the NAME of an environment variable");
      }
    }
    return new ServeSettings(command, MoaaConfig.intIn(n, "port", p, 1, 65535, 8011), model,
        MoaaConfig.intIn(n, "ready_timeout_s", p, 1, 86_400, 600),
        MoaaConfig.intIn(n, "stop_timeout_s", p, 1, 3600, 30), keyEnv);
  }

  /** The model name requests carry: {@code model}, else the checkpoint path. */
  public String modelFor(String checkpoint) {
    return model != null ? model : checkpoint;
  }

  /** The OpenAI-style base URL of the served policy. */
  public String baseUrl() {
    return "http://127.0.0.1:" + port + "/v1";
  }
}
