package dev.moaa.runners.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds the deterministic bodies of the simulated endpoint: answers, error objects and the
 * deliberately broken body of a "malformed" fault.
 *
 * <p>An answer starts with a tag {@code [simulated MODEL SIG]}, where SIG is the first 10 hex
 * characters of {@code sha256(model + "\n" + canonical JSON of messages)}, so a test can tell which
 * model answered which exact conversation. When system messages quote earlier simulated answers,
 * the answer ends with {@code (references seen: N)}, N being the number of distinct tags quoted.
 */
final class SimulatedAnswers {

  /** The fixed {@code created} timestamp of every answer. */
  static final long CREATED = 1_700_000_000L;

  static final String FINGERPRINT = "moaa-simulated";

  private static final Pattern TAG = Pattern.compile("\\[simulated [^\\[\\]]*\\]");

  private static final String[] WORDS = {
    "amber", "basin", "cedar", "delta", "ember", "fjord", "gable", "harbor",
    "island", "jasper", "kernel", "lantern", "meadow", "nimbus", "orchard", "pebble",
    "quarry", "ridge", "summit", "timber", "upland", "valley", "willow", "yonder",
    "zephyr", "anchor", "beacon", "canyon", "dune", "estuary", "forest", "glacier",
    "hollow", "inlet", "juniper", "knoll", "lagoon", "marsh", "nectar", "oasis",
    "prairie", "quill", "river", "spruce", "tundra", "umber", "vista", "wharf",
    "acorn", "bramble", "copper", "drift", "echo", "flint", "granite", "heath",
    "ivory", "jetty", "kelp", "lichen", "mesa", "north", "opal", "pine"
  };

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final ObjectMapper mapper;
  private final int wordsPerAnswer;

  SimulatedAnswers(ObjectMapper mapper, int wordsPerAnswer) {
    this.mapper = mapper;
    this.wordsPerAnswer = wordsPerAnswer;
  }

  /** The signature of one choice: choice 0 hashes model and messages, later ones add the index. */
  String signature(String model, ArrayNode messages, int choice) {
    String material = model + "\n" + canonicalJson(messages);
    if (choice > 0) {
      material = material + "\n" + choice;
    }
    return SimHashing.sha256Hex(material).substring(0, 10);
  }

  /** The full answer body; with {@code empty} every choice's content is "". */
  ObjectNode answer(ChatRequest request, boolean empty) {
    String sig = signature(request.model(), request.messagesNode(), 0);
    int references = countReferences(request.messages());
    ObjectNode root = NODES.objectNode();
    root.put("id", "chatcmpl-sim-" + sig);
    root.put("object", "chat.completion");
    root.put("created", CREATED);
    root.put("model", request.model());
    root.put("system_fingerprint", FINGERPRINT);
    ArrayNode choices = root.putArray("choices");
    long completionTokens = 0;
    for (int i = 0; i < request.n(); i++) {
      String content = "";
      String finish = "stop";
      if (!empty) {
        String choiceSig = i == 0 ? sig : signature(request.model(), request.messagesNode(), i);
        content = content(request.model(), choiceSig, references);
        Integer limit = request.maxTokens();
        if (limit != null && tokens(content.length()) > limit) {
          content = cut(content, (int) Math.min(Integer.MAX_VALUE, limit * 4L));
          finish = "length";
        }
      }
      completionTokens += tokens(content.length());
      ObjectNode choice = choices.addObject();
      choice.put("index", i);
      ObjectNode message = choice.putObject("message");
      message.put("role", "assistant");
      message.put("content", content);
      choice.put("finish_reason", finish);
    }
    long promptChars = 0;
    for (RecordedRequest.Message message : request.messages()) {
      promptChars += message.content().length();
    }
    long promptTokens = tokens(promptChars);
    ObjectNode usage = root.putObject("usage");
    usage.put("prompt_tokens", promptTokens);
    usage.put("completion_tokens", completionTokens);
    usage.put("total_tokens", promptTokens + completionTokens);
    return root;
  }

  /** A body that starts like an answer and stops in the middle of a string. */
  byte[] malformed(ChatRequest request) {
    String sig = signature(request.model(), request.messagesNode(), 0);
    return ("{\"id\": \"chatcmpl-sim-" + sig.substring(0, 4)).getBytes(StandardCharsets.UTF_8);
  }

  /** An OpenAI-style error object. */
  static ObjectNode error(String message, String type, String param, String code) {
    ObjectNode root = NODES.objectNode();
    ObjectNode error = root.putObject("error");
    error.put("message", message);
    error.put("type", type);
    if (param == null) {
      error.putNull("param");
    } else {
      error.put("param", param);
    }
    if (code == null) {
      error.putNull("code");
    } else {
      error.put("code", code);
    }
    return root;
  }

  /** The answer text of one choice. */
  String content(String model, String sig, int references) {
    StringBuilder text = new StringBuilder("[simulated ").append(model).append(' ').append(sig)
        .append(']');
    List<String> words = words(sig, wordsPerAnswer);
    if (!words.isEmpty()) {
      text.append(' ').append(String.join(" ", words)).append('.');
    }
    if (references > 0) {
      text.append(" (references seen: ").append(references).append(')');
    }
    return text.toString();
  }

  /** How many distinct simulated-answer tags the system messages quote. */
  static int countReferences(List<RecordedRequest.Message> messages) {
    Set<String> tags = new LinkedHashSet<>();
    for (RecordedRequest.Message message : messages) {
      if (message.role().equals("system")) {
        Matcher matcher = TAG.matcher(message.content());
        while (matcher.find()) {
          tags.add(matcher.group());
        }
      }
    }
    return tags.size();
  }

  /** The token estimate used everywhere here: one token per four characters, rounded up. */
  static long tokens(long chars) {
    return (chars + 3) / 4;
  }

  private static List<String> words(String sig, int count) {
    List<String> out = new ArrayList<>(count);
    int block = 0;
    while (out.size() < count) {
      byte[] digest = SimHashing.sha256(sig + "|words|" + block++);
      for (int i = 0; i < digest.length && out.size() < count; i++) {
        out.add(WORDS[(digest[i] & 0xFF) % WORDS.length]);
      }
    }
    return out;
  }

  private static String cut(String text, int chars) {
    if (chars >= text.length()) {
      return text;
    }
    int end = chars;
    if (end > 0 && Character.isHighSurrogate(text.charAt(end - 1))) {
      end--;
    }
    return text.substring(0, end);
  }

  /** Compact JSON with every object's fields in sorted order, so key order never matters. */
  private String canonicalJson(JsonNode node) {
    try {
      return mapper.writeValueAsString(sorted(node));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a JSON tree always serializes", e);
    }
  }

  private static JsonNode sorted(JsonNode node) {
    if (node.isObject()) {
      List<String> names = new ArrayList<>();
      node.fieldNames().forEachRemaining(names::add);
      names.sort(null);
      ObjectNode copy = NODES.objectNode();
      for (String name : names) {
        copy.set(name, sorted(node.get(name)));
      }
      return copy;
    }
    if (node.isArray()) {
      ArrayNode copy = NODES.arrayNode();
      node.forEach(element -> copy.add(sorted(element)));
      return copy;
    }
    return node;
  }
}
