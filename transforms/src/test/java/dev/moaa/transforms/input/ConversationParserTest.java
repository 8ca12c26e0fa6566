package dev.moaa.transforms.input;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.schemas.Conversation;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConversationParserTest {

  private static final String SOURCE = "gs://bucket/input.jsonl";
  private static final ConversationParser AUTO = ConversationParser.of(InputFormat.AUTO);

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private static Conversation accepted(ParseResult result) {
    assertTrue(result.isSuccess(), () -> "expected success, got " + result);
    return result.conversation();
  }

  /** Asserts a failure with the given code; returns its detail. */
  private static String rejected(ParseResult result, String reason) {
    assertFalse(result.isSuccess(), () -> "expected " + reason + ", got " + result);
    assertEquals(reason, result.reason(), result::toString);
    return result.detail();
  }

  private static ParseResult auto(String json) {
    return AUTO.parseJson(json, SOURCE, 7);
  }

  private static List<byte[]> resourceLines(String name) throws IOException {
    try (InputStream in =
        ConversationParserTest.class.getResourceAsStream("/ConversationParserTest/" + name)) {
      assertTrue(in != null, "missing test resource " + name);
      byte[] all = in.readAllBytes();
      List<byte[]> lines = new ArrayList<>();
      int start = 0;
      for (int i = 0; i <= all.length; i++) {
        if (i == all.length || all[i] == '\n') {
          if (i > start) {
            lines.add(Arrays.copyOfRange(all, start, i));
          }
          start = i + 1;
        }
      }
      return lines;
    }
  }

  // ---------------------------------------------------------------------------------------------

  @Nested
  class InputFormats {

    @Test
    void wireNamesAreLowerCase() {
      assertEquals(
          List.of("messages", "sharegpt", "alpaca", "prompt", "auto"),
          Arrays.stream(InputFormat.values()).map(InputFormat::wireName).toList());
    }

    @Test
    void parseIgnoresCaseAndSurroundingBlanks() {
      assertEquals(InputFormat.SHAREGPT, InputFormat.parse("ShareGPT"));
      assertEquals(InputFormat.AUTO, InputFormat.parse(" auto "));
      assertEquals(InputFormat.MESSAGES, InputFormat.parse("MESSAGES"));
    }

    @Test
    void givenUnknownName_parseThrowsListingValidNames() {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> InputFormat.parse("openai"));
      assertTrue(e.getMessage().contains("'openai'"), e.getMessage());
      assertTrue(
          e.getMessage().contains("messages, sharegpt, alpaca, prompt, auto"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> InputFormat.parse(null));
    }
  }

  @Nested
  class Messages {

    @Test
    void givenChat_keepsSystemAndUserTurnsInOrder_andEachTurnsReplyWhereThereIsOne() {
      Conversation c =
          accepted(
              auto(
                  "{\"messages\": ["
                      + "{\"role\": \"system\", \"content\": \"Be terse.\"},"
                      + "{\"role\": \"user\", \"content\": \"First?\"},"
                      + "{\"role\": \"assistant\", \"content\": \"One.\"},"
                      + "{\"role\": \"user\", \"content\": \"  Second?\\n\"},"
                      + "{\"role\": \"assistant\", \"content\": null}]}"));
      assertAll(
          () -> assertEquals("messages", c.getFormat()),
          () -> assertEquals("Be terse.", c.getSystem()),
          () -> assertEquals(List.of("First?", "  Second?\n"), c.getTurns()),
          () -> assertEquals(java.util.Arrays.asList("One.", null), c.getReplies()),
          () -> assertEquals(SOURCE, c.getSource()),
          () -> assertEquals(7L, c.getLine()));
    }

    @Test
    void givenNoSystemMessage_systemIsNull() {
      Conversation c =
          accepted(auto("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));
      assertNull(c.getSystem());
    }

    @Test
    void givenRolesInOtherCase_acceptsThem() {
      Conversation c =
          accepted(
              auto(
                  "{\"messages\": [{\"role\": \"System\", \"content\": \"s\"},"
                      + "{\"role\": \"USER\", \"content\": \"u\"}]}"));
      assertEquals("s", c.getSystem());
      assertEquals(List.of("u"), c.getTurns());
    }

    @Test
    void givenTextParts_joinsThemWithNewlines() {
      Conversation c =
          accepted(
              auto(
                  "{\"messages\": [{\"role\": \"user\", \"content\": ["
                      + "{\"type\": \"text\", \"text\": \"Look at this:\"},"
                      + "{\"type\": \"text\", \"text\": \"a table\"}]}]}"));
      assertEquals(List.of("Look at this:\na table"), c.getTurns());
    }

    @Test
    void givenImagePart_isBadFieldTypeNamingThePart() {
      String detail =
          rejected(
              auto(
                  "{\"messages\": [{\"role\": \"user\", \"content\": ["
                      + "{\"type\": \"text\", \"text\": \"What is this?\"},"
                      + "{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}"),
              "bad_field_type");
      assertTrue(detail.contains("messages[0].content[1]"), detail);
      assertTrue(detail.contains("image_url"), detail);
    }

    @Test
    void givenEmptyList_isEmptyMessages() {
      rejected(auto("{\"messages\": []}"), "empty_messages");
    }

    @Test
    void givenUnsupportedRole_isUnknownRoleNamingRoleAndIndex() {
      String detail =
          rejected(
              auto(
                  "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"},"
                      + "{\"role\": \"tool\", \"content\": \"y\"}]}"),
              "unknown_role");
      assertTrue(detail.contains("messages[1]"), detail);
      assertTrue(detail.contains("'tool'"), detail);
    }

    @Test
    void givenDeveloperRole_isUnknownRole() {
      rejected(
          auto(
              "{\"messages\": [{\"role\": \"developer\", \"content\": \"x\"},"
                  + "{\"role\": \"user\", \"content\": \"y\"}]}"),
          "unknown_role");
    }

    @Test
    void givenSystemMessageAfterTheFirst_isUnknownRole() {
      String detail =
          rejected(
              auto(
                  "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"},"
                      + "{\"role\": \"system\", \"content\": \"late\"}]}"),
              "unknown_role");
      assertTrue(detail.contains("system message at messages[1]"), detail);
      assertTrue(detail.contains("first message"), detail);
    }

    @Test
    void givenOnlySystemAndAssistant_isNoUserTurn() {
      rejected(
          auto(
              "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"},"
                  + "{\"role\": \"assistant\", \"content\": \"a\"}]}"),
          "no_user_turn");
    }

    @Test
    void givenBlankUserContent_isEmptyContent() {
      String detail =
          rejected(
              auto(
                  "{\"messages\": [{\"role\": \"user\", \"content\": \"ok\"},"
                      + "{\"role\": \"user\", \"content\": \" \\n\\t\"}]}"),
              "empty_content");
      assertTrue(detail.contains("messages[1].content"), detail);
    }

    @Test
    void givenBlankSystemContent_treatsItAsNoSystem() {
      Conversation c =
          accepted(
              auto(
                  "{\"messages\": [{\"role\": \"system\", \"content\": \"\"},"
                      + "{\"role\": \"user\", \"content\": \"u\"}]}"));
      assertNull(c.getSystem());
    }

    @Test
    void givenMissingRoleOrContent_isMissingFieldNamingIt() {
      assertTrue(
          rejected(auto("{\"messages\": [{\"content\": \"x\"}]}"), "missing_field")
              .contains("messages[0].role"));
      assertTrue(
          rejected(auto("{\"messages\": [{\"role\": \"user\"}]}"), "missing_field")
              .contains("messages[0].content"));
    }

    @Test
    void givenWrongTypes_isBadFieldType() {
      assertAll(
          () -> rejected(auto("{\"messages\": \"hello\"}"), "bad_field_type"),
          () -> rejected(auto("{\"messages\": [\"hello\"]}"), "bad_field_type"),
          () ->
              rejected(
                  auto("{\"messages\": [{\"role\": \"user\", \"content\": 42}]}"),
                  "bad_field_type"),
          () ->
              rejected(
                  auto("{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}"), "bad_field_type"),
          () ->
              rejected(
                  auto("{\"messages\": [{\"role\": \"user\", \"content\": [\"x\"]}]}"),
                  "bad_field_type"));
    }

    @Test
    void givenUltraChatRow_usesPromptIdAndMessagesOverPrompt() {
      Conversation c =
          accepted(
              auto(
                  "{\"prompt\": \"Q\", \"prompt_id\": \"abc123\", \"messages\": ["
                      + "{\"role\": \"user\", \"content\": \"Q\"},"
                      + "{\"role\": \"assistant\", \"content\": \"A\"}]}"));
      assertEquals("messages", c.getFormat());
      assertEquals("abc123", c.getId());
      assertEquals(List.of("Q"), c.getTurns());
    }
  }

  @Nested
  class ShareGpt {

    @Test
    void givenConversation_keepsHumanTurnsAndLeadingSystem() {
      Conversation c =
          accepted(
              auto(
                  "{\"id\": \"sg-1\", \"conversations\": ["
                      + "{\"from\": \"system\", \"value\": \"You help.\"},"
                      + "{\"from\": \"human\", \"value\": \"a\"},"
                      + "{\"from\": \"gpt\", \"value\": \"1\"},"
                      + "{\"from\": \"user\", \"value\": \"b\"},"
                      + "{\"from\": \"chatgpt\", \"value\": \"2\"},"
                      + "{\"from\": \"human\", \"value\": \"c\"},"
                      + "{\"from\": \"bing\", \"value\": \"3\"},"
                      + "{\"from\": \"bard\", \"value\": \"4\"},"
                      + "{\"from\": \"assistant\", \"value\": \"5\"}]}"));
      assertAll(
          () -> assertEquals("sharegpt", c.getFormat()),
          () -> assertEquals("sg-1", c.getId()),
          () -> assertEquals("You help.", c.getSystem()),
          () -> assertEquals(List.of("a", "b", "c"), c.getTurns()),
          () -> assertEquals(List.of("1", "2", "3"), c.getReplies(), "the first reply after each turn"));
    }

    @Test
    void givenUnknownSpeaker_isUnknownRole() {
      String detail =
          rejected(
              auto("{\"conversations\": [{\"from\": \"narrator\", \"value\": \"x\"}]}"),
              "unknown_role");
      assertTrue(detail.contains("conversations[0]"), detail);
      assertTrue(detail.contains("'narrator'"), detail);
    }

    @Test
    void givenSystemAfterTheFirst_isUnknownRole() {
      rejected(
          auto(
              "{\"conversations\": [{\"from\": \"human\", \"value\": \"x\"},"
                  + "{\"from\": \"system\", \"value\": \"y\"}]}"),
          "unknown_role");
    }

    @Test
    void givenFailures_reportsTheMatchingReason() {
      assertAll(
          () -> rejected(auto("{\"conversations\": []}"), "empty_messages"),
          () ->
              rejected(
                  auto("{\"conversations\": [{\"from\": \"gpt\", \"value\": \"x\"}]}"),
                  "no_user_turn"),
          () ->
              rejected(
                  auto("{\"conversations\": [{\"from\": \"human\", \"value\": \"\"}]}"),
                  "empty_content"),
          () ->
              rejected(auto("{\"conversations\": [{\"from\": \"human\"}]}"), "missing_field"),
          () ->
              rejected(
                  auto("{\"conversations\": [{\"from\": \"human\", \"value\": [\"x\"]}]}"),
                  "bad_field_type"));
    }
  }

  @Nested
  class Alpaca {

    @Test
    void givenInstructionAndInput_joinsThemWithABlankLineAndIgnoresOutput() {
      Conversation c =
          accepted(
              auto(
                  "{\"instruction\": \"Translate to French.\", \"input\": \"Good morning\","
                      + " \"output\": \"Bonjour\", \"system\": \"You translate.\"}"));
      assertAll(
          () -> assertEquals("alpaca", c.getFormat()),
          () -> assertEquals("You translate.", c.getSystem()),
          () -> assertEquals(List.of("Translate to French.\n\nGood morning"), c.getTurns()));
    }

    @Test
    void givenBlankInput_usesTheInstructionAlone() {
      Conversation c =
          accepted(auto("{\"instruction\": \"Name a color.\", \"input\": \"\", \"output\": \"\"}"));
      assertEquals(List.of("Name a color."), c.getTurns());
      assertNull(c.getSystem());
    }

    @Test
    void givenBlankInstruction_isEmptyContent() {
      rejected(auto("{\"instruction\": \"  \", \"input\": \"x\"}"), "empty_content");
    }

    @Test
    void givenNonStringInput_isBadFieldType() {
      rejected(auto("{\"instruction\": \"x\", \"input\": 3}"), "bad_field_type");
    }

    @Test
    void givenExplicitAlpacaOnARowWithoutInstruction_isMissingFieldNamingIt() {
      String detail =
          rejected(
              ConversationParser.of(InputFormat.ALPACA).parseJson("{\"prompt\": \"x\"}", SOURCE, 1),
              "missing_field");
      assertTrue(detail.contains("instruction"), detail);
    }
  }

  @Nested
  class Prompts {

    @Test
    void givenPromptQuestionOrInstruction_makesOneTurn() {
      assertAll(
          () -> assertEquals(List.of("p"), accepted(auto("{\"prompt\": \"p\"}")).getTurns()),
          () -> assertEquals(List.of("q"), accepted(auto("{\"question\": \"q\"}")).getTurns()),
          () ->
              assertEquals(List.of("i"), accepted(auto("{\"instruction\": \"i\"}")).getTurns()),
          () -> assertEquals("prompt", accepted(auto("{\"question\": \"q\"}")).getFormat()));
    }

    @Test
    void givenSystem_keepsIt() {
      Conversation c = accepted(auto("{\"prompt\": \"p\", \"system\": \"s\"}"));
      assertEquals("s", c.getSystem());
    }

    @Test
    void givenTurnsOfStrings_makesOneTurnEach() {
      Conversation c =
          accepted(auto("{\"question_id\": 81, \"category\": \"w\", \"turns\": [\"a\", \"b\"]}"));
      assertEquals(List.of("a", "b"), c.getTurns());
      assertEquals("81", c.getId());
    }

    @Test
    void givenArenaHardOldLayout_readsTurnContents() {
      Conversation c =
          accepted(
              auto(
                  "{\"question_id\": \"328c149ed45a41c0b9d6f14659e63599\","
                      + " \"category\": \"arena-hard-v0.1\", \"cluster\": \"ABC\","
                      + " \"turns\": [{\"content\": \"Use ABC notation.\"}]}"));
      assertEquals("328c149ed45a41c0b9d6f14659e63599", c.getId());
      assertEquals(List.of("Use ABC notation."), c.getTurns());
      assertEquals("prompt", c.getFormat());
    }

    @Test
    void givenFailures_reportsTheMatchingReason() {
      assertAll(
          () -> rejected(auto("{\"turns\": []}"), "empty_messages"),
          () -> rejected(auto("{\"turns\": [\"a\", 2]}"), "bad_field_type"),
          () -> rejected(auto("{\"turns\": [{\"text\": \"a\"}]}"), "missing_field"),
          () -> rejected(auto("{\"turns\": [\"a\", \"\"]}"), "empty_content"),
          () -> rejected(auto("{\"prompt\": [\"a\"]}"), "bad_field_type"),
          () -> rejected(auto("{\"prompt\": \"\"}"), "empty_content"),
          () -> rejected(auto("{\"prompt\": \"p\", \"system\": 1}"), "bad_field_type"));
    }

    @Test
    void givenExplicitPromptOnAChatRow_isMissingField() {
      String detail =
          rejected(
              ConversationParser.of(InputFormat.PROMPT)
                  .parseJson(
                      "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", SOURCE, 1),
              "missing_field");
      assertTrue(detail.contains("prompt, instruction, question or turns"), detail);
    }
  }

  @Nested
  class Detection {

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(
        delimiter = '|',
        value = {
          "{\"messages\": []}                                  | MESSAGES",
          "{\"messages\": \"x\", \"prompt\": \"p\"}            | MESSAGES",
          "{\"conversations\": []}                             | SHAREGPT",
          "{\"instruction\": \"i\", \"input\": \"\"}           | ALPACA",
          "{\"instruction\": \"i\", \"output\": \"o\"}         | ALPACA",
          "{\"instruction\": \"i\"}                            | PROMPT",
          "{\"prompt\": \"p\"}                                 | PROMPT",
          "{\"question\": \"q\"}                               | PROMPT",
          "{\"question_id\": 1, \"turns\": [\"a\"]}            | PROMPT",
          "{\"turns\": [{\"content\": \"a\"}]}                 | PROMPT",
          "{\"messages\": null, \"prompt\": \"p\"}             | PROMPT",
          "{\"text\": \"t\"}                                   | ",
          "[1]                                                 | ",
        })
    void detectPicksTheLayoutFromTheKeys(String json, InputFormat expected) throws IOException {
      assertEquals(expected, ConversationParser.detect(new ObjectMapper().readTree(json)));
    }

    @Test
    void givenNoKnownKeys_isUnknownFormatNamingTheKeysFound() {
      String detail = rejected(auto("{\"text\": \"t\", \"label\": 1}"), "unknown_format");
      assertTrue(detail.contains("[text, label]"), detail);
      assertTrue(rejected(auto("{}"), "unknown_format").contains("none"));
    }

    @Test
    void givenExplicitFormatThatDoesNotFit_isMissingFieldNamingIt() {
      String detail =
          rejected(
              ConversationParser.of(InputFormat.MESSAGES)
                  .parseJson("{\"conversations\": [{\"from\": \"human\", \"value\": \"x\"}]}",
                      SOURCE, 1),
              "missing_field");
      assertTrue(detail.contains("messages"), detail);
      assertTrue(
          rejected(
                  ConversationParser.of(InputFormat.SHAREGPT).parseJson("{\"prompt\": \"p\"}",
                      SOURCE, 1),
                  "missing_field")
              .contains("conversations"));
    }

    @Test
    void givenExplicitFormat_recordsThatFormat() {
      Conversation c =
          accepted(
              ConversationParser.of(InputFormat.PROMPT)
                  .parseJson("{\"instruction\": \"i\", \"input\": \"x\"}", SOURCE, 1));
      assertEquals("prompt", c.getFormat());
      assertEquals(List.of("i"), c.getTurns());
    }
  }

  @Nested
  class Ids {

    @Test
    void givenStringId_usesIt() {
      assertEquals("row-9", accepted(auto("{\"id\": \"row-9\", \"prompt\": \"p\"}")).getId());
    }

    @Test
    void givenIntegerIds_rendersThemInDecimal() {
      assertEquals("81", accepted(auto("{\"question_id\": 81, \"prompt\": \"p\"}")).getId());
      assertEquals(
          "123456789012345678901234567890",
          accepted(auto("{\"uid\": 123456789012345678901234567890, \"prompt\": \"p\"}")).getId());
    }

    @Test
    void givenSeveralIdFields_prefersThemInDocumentedOrder() {
      assertEquals(
          "a",
          accepted(auto("{\"prompt_id\": \"e\", \"uid\": \"c\", \"id\": \"a\", \"prompt\": \"p\"}"))
              .getId());
      assertEquals(
          "d",
          accepted(auto("{\"prompt_id\": \"e\", \"conversation_id\": \"d\", \"prompt\": \"p\"}"))
              .getId());
    }

    @Test
    void givenBlankId_fallsThroughToTheNextField() {
      assertEquals(
          "u", accepted(auto("{\"id\": \" \", \"uid\": \"u\", \"prompt\": \"p\"}")).getId());
    }

    @Test
    void givenNonIntegralOrStructuredId_isBadFieldType() {
      rejected(auto("{\"id\": 1.5, \"prompt\": \"p\"}"), "bad_field_type");
      rejected(auto("{\"id\": {\"x\": 1}, \"prompt\": \"p\"}"), "bad_field_type");
    }

    @Test
    void givenNoId_hashesTheNormalizedContentToAFixedValue() {
      // sha256("be brief" + U+0001 + "hello" + U+0002 + "world") starts with 4743d8bafee8833e.
      Conversation c =
          accepted(
              auto(
                  "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
                      + "{\"role\": \"user\", \"content\": \"hello\"},"
                      + "{\"role\": \"assistant\", \"content\": \"hi\"},"
                      + "{\"role\": \"user\", \"content\": \"world\"}]}"));
      assertEquals("h-4743d8bafee8833e", c.getId());
      assertEquals("h-4743d8bafee8833e", ConversationParser.contentId("be brief", c.getTurns()));
      // sha256(U+0001 + "hello"): no system counts as the empty string.
      assertEquals("h-cceeb7a985ecc3da", accepted(auto("{\"prompt\": \"hello\"}")).getId());
    }

    @Test
    void givenSameContentInAnotherLayoutOrSpelling_hashesToTheSameId() {
      String fromPrompt =
          accepted(
                  AUTO.parseJson(
                      "{ \"turns\" : [\"hello\", \"world\"], \"system\": \"be brief\" }", "b", 99))
              .getId();
      String fromShareGpt =
          accepted(
                  auto(
                      "{\"conversations\": [{\"from\": \"system\", \"value\": \"be brief\"},"
                          + "{\"from\": \"human\", \"value\": \"hello\"},"
                          + "{\"from\": \"human\", \"value\": \"world\"}]}"))
              .getId();
      assertEquals("h-4743d8bafee8833e", fromPrompt);
      assertEquals("h-4743d8bafee8833e", fromShareGpt);
    }

    @Test
    void givenDifferentSplitsOfTheSameText_hashesDiffer() {
      assertNotEquals(
          ConversationParser.contentId(null, List.of("ab", "c")),
          ConversationParser.contentId(null, List.of("a", "bc")));
      assertNotEquals(
          ConversationParser.contentId("x", List.of("y")),
          ConversationParser.contentId(null, List.of("xy")));
    }
  }

  @Nested
  class Limits {

    @Test
    void givenMorePromptCharsThanAllowed_isPromptTooLong() {
      ConversationParser parser = ConversationParser.of(InputFormat.AUTO).withMaxPromptChars(10);
      accepted(parser.parseJson("{\"prompt\": \"67890\", \"system\": \"12345\"}", SOURCE, 1));
      String detail =
          rejected(
              parser.parseJson("{\"prompt\": \"678901\", \"system\": \"12345\"}", SOURCE, 1),
              "prompt_too_long");
      assertTrue(detail.contains("11 chars"), detail);
    }

    @Test
    void givenOneMegabytePrompt_isPromptTooLongByDefault() {
      String big = "x".repeat(1_000_000);
      byte[] line = ("{\"prompt\": \"" + big + "\"}").getBytes(UTF_8);
      String detail = rejected(AUTO.parseLine(line, SOURCE, 3), "prompt_too_long");
      assertTrue(detail.contains("1000000 chars"), detail);
      assertTrue(detail.contains("200000"), detail);
      assertEquals(ConversationParser.DEFAULT_MAX_PROMPT_CHARS, AUTO.maxPromptChars());
    }

    @Test
    void givenMoreUserTurnsThanAllowed_isTooManyTurns() {
      List<String> nine = new ArrayList<>();
      for (int i = 0; i < 9; i++) {
        nine.add("\"t" + i + "\"");
      }
      String json = "{\"turns\": [" + String.join(",", nine) + "]}";
      String detail = rejected(auto(json), "too_many_turns");
      assertTrue(detail.contains("9 user turns"), detail);
      assertEquals(9, accepted(AUTO.withMaxTurns(9).parseJson(json, SOURCE, 1)).getTurns().size());
      rejected(AUTO.withMaxTurns(1).parseJson("{\"turns\": [\"a\", \"b\"]}", SOURCE, 1),
          "too_many_turns");
    }

    @Test
    void assistantMessagesDoNotCountAsTurns() {
      accepted(
          AUTO.withMaxTurns(1)
              .parseJson(
                  "{\"messages\": [{\"role\": \"user\", \"content\": \"u\"},"
                      + "{\"role\": \"assistant\", \"content\": \"a\"}]}",
                  SOURCE,
                  1));
    }
  }

  @Nested
  class Decoding {

    @Test
    void givenInvalidUtf8_isInvalidUtf8WithTheByteOffset() {
      byte[] line = {
        '{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xC3, '(', '"', '}'
      };
      String detail = rejected(AUTO.parseLine(line, SOURCE, 12), "invalid_utf8");
      assertTrue(detail.contains("byte offset 11"), detail);
      assertTrue(detail.contains("0xC3"), detail);
    }

    @Test
    void givenOverlongEncodingOrTruncatedSequence_isInvalidUtf8() {
      byte[] overlong = {'{', '"', 'p', 'r', 'o', 'm', 'p', 't', '"', ':', '"', (byte) 0xC0,
          (byte) 0xAF, '"', '}'};
      rejected(AUTO.parseLine(overlong, SOURCE, 1), "invalid_utf8");
      byte[] truncated = {'{', '}', (byte) 0xE6, (byte) 0x97};
      rejected(AUTO.parseLine(truncated, SOURCE, 1), "invalid_utf8");
    }

    @Test
    void givenMultibyteTextAndByteOrderMark_decodesIt() {
      byte[] line = ("\uFEFF{\"prompt\": \"héllo 日本 \uD83D\uDE00\"}").getBytes(UTF_8);
      Conversation c = accepted(AUTO.parseLine(line, SOURCE, 1));
      assertEquals(List.of("héllo 日本 \uD83D\uDE00"), c.getTurns());
    }

    @Test
    void givenMalformedJson_isMalformedJson() {
      assertAll(
          () -> rejected(auto("{\"prompt\": "), "malformed_json"),
          () -> rejected(auto("{prompt: 'x'}"), "malformed_json"),
          () -> rejected(auto("{\"prompt\": \"a\"} {\"prompt\": \"b\"}"), "malformed_json"),
          () -> rejected(auto("{\"prompt\": \"a\", \"prompt\": \"b\"}"), "malformed_json"),
          () -> rejected(auto("   "), "malformed_json"),
          () -> rejected(AUTO.parseLine(new byte[0], SOURCE, 1), "malformed_json"));
    }

    @Test
    void givenJsonThatIsNotAnObject_isNotAnObject() {
      assertTrue(rejected(auto("[{\"prompt\": \"p\"}]"), "not_an_object").contains("array"));
      rejected(auto("\"prompt\""), "not_an_object");
      rejected(auto("null"), "not_an_object");
    }

    @Test
    void failuresCarrySourceAndLine() {
      ParseResult result = AUTO.parseJson("[]", "file.jsonl", 42);
      assertEquals("file.jsonl", result.source());
      assertEquals(42L, result.line());
    }
  }

  @Nested
  class Rows {

    @Test
    void givenPlainMapRow_parsesLikeTheEquivalentJson() {
      Map<String, Object> user = new LinkedHashMap<>();
      user.put("role", "user");
      user.put("content", new StringBuilder("hello"));
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("question_id", 5L);
      row.put("messages", List.of(Map.of("role", "system", "content", "be brief"), user));
      row.put("embedding", new byte[] {1, 2, 3});
      Conversation fromRow = accepted(AUTO.parseRow(row, "rows.parquet", 4));
      Conversation fromJson =
          accepted(
              AUTO.parseJson(
                  "{\"question_id\": 5, \"messages\": ["
                      + "{\"role\": \"system\", \"content\": \"be brief\"},"
                      + "{\"role\": \"user\", \"content\": \"hello\"}]}",
                  "rows.parquet",
                  4));
      assertEquals(fromJson, fromRow);
      assertEquals("5", fromRow.getId());
    }

    @Test
    void givenObjectArrayTurns_readsThem() {
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("turns", new Object[] {"a", "b"});
      assertEquals(List.of("a", "b"), accepted(AUTO.parseRow(row, SOURCE, 1)).getTurns());
    }

    @Test
    void givenBinaryWhereTextIsNeeded_isBadFieldType() {
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("prompt", ByteBuffer.wrap("x".getBytes(UTF_8)));
      assertTrue(rejected(AUTO.parseRow(row, SOURCE, 1), "bad_field_type").contains("binary"));
    }

    @Test
    void givenNullRow_isNotAnObject() {
      rejected(AUTO.parseRow(null, SOURCE, 1), "not_an_object");
    }
  }

  @Nested
  class BenchmarkRows {

    private List<Conversation> parseAll(String file) throws IOException {
      List<byte[]> lines = resourceLines(file);
      assertEquals(3, lines.size(), file);
      List<Conversation> parsed = new ArrayList<>();
      for (int i = 0; i < lines.size(); i++) {
        parsed.add(accepted(AUTO.parseLine(lines.get(i), file, i + 1)));
      }
      return parsed;
    }

    @Test
    void mtBenchRowsHaveTwoTurnsAndNumericIds() throws IOException {
      List<Conversation> rows = parseAll("mt_bench_question.jsonl");
      assertEquals(List.of("81", "82", "83"), rows.stream().map(Conversation::getId).toList());
      for (Conversation c : rows) {
        assertEquals(2, c.getTurns().size());
        assertEquals("prompt", c.getFormat());
        assertNull(c.getSystem());
      }
      assertEquals(
          "Rewrite your previous response. Start every sentence with the letter A.",
          rows.get(0).getTurns().get(1));
      assertEquals(3L, rows.get(2).getLine());
      assertEquals("mt_bench_question.jsonl", rows.get(2).getSource());
    }

    @Test
    void arenaHardV01RowsUseUidAndPrompt() throws IOException {
      List<Conversation> rows = parseAll("arena_hard_v0.1_question.jsonl");
      assertEquals("328c149ed45a41c0b9d6f14659e63599", rows.get(0).getId());
      assertEquals(
          List.of("Use ABC notation to write a melody in the style of a folk tune."),
          rows.get(0).getTurns());
      assertTrue(rows.get(1).getTurns().get(0).startsWith("SOLVE THIS IN C++"));
      assertTrue(rows.stream().allMatch(c -> c.getTurns().size() == 1));
    }

    @Test
    void arenaHardV20RowsUseUidAndPrompt() throws IOException {
      List<Conversation> rows = parseAll("arena_hard_v2.0_question.jsonl");
      assertEquals(
          List.of("2edbb5f36f5b42be", "ec71c09662a64365", "d5cdf24c4e614beb"),
          rows.stream().map(Conversation::getId).toList());
      assertEquals(
          "please write a python script that takes a .mp4 file and outputs screenshots taken 10s"
              + " apart",
          rows.get(1).getTurns().get(0));
      assertTrue(rows.get(2).getTurns().get(0).contains("<img src=\"img/world.png\">"));
    }

    @Test
    void alpacaEvalRowsGetStableContentIds() throws IOException {
      List<Conversation> rows = parseAll("alpaca_eval_instructions.jsonl");
      for (Conversation c : rows) {
        assertEquals("prompt", c.getFormat());
        assertTrue(c.getId().matches("h-[0-9a-f]{16}"), c.getId());
        assertEquals(ConversationParser.contentId(null, c.getTurns()), c.getId());
      }
      assertEquals(
          "How did US states get their names?", rows.get(1).getTurns().get(0));
      assertEquals(3, rows.stream().map(Conversation::getId).distinct().count());
    }
  }

  @Nested
  class Configuration {

    @Test
    void withMethodsReturnCopiesAndValidate() {
      ConversationParser base = ConversationParser.of(InputFormat.SHAREGPT);
      ConversationParser tuned = base.withMaxPromptChars(50).withMaxTurns(2);
      assertAll(
          () -> assertEquals(ConversationParser.DEFAULT_MAX_PROMPT_CHARS, base.maxPromptChars()),
          () -> assertEquals(ConversationParser.DEFAULT_MAX_TURNS, base.maxTurns()),
          () -> assertEquals(50, tuned.maxPromptChars()),
          () -> assertEquals(2, tuned.maxTurns()),
          () -> assertEquals(InputFormat.SHAREGPT, tuned.format()),
          () -> assertThrows(IllegalArgumentException.class, () -> base.withMaxTurns(0)),
          () -> assertThrows(IllegalArgumentException.class, () -> base.withMaxPromptChars(-1)),
          () -> assertThrows(NullPointerException.class, () -> ConversationParser.of(null)));
    }

    @Test
    void survivesJavaSerialization() throws Exception {
      ConversationParser parser = AUTO.withMaxTurns(3);
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
        out.writeObject(parser);
      }
      ConversationParser copy;
      try (ObjectInputStream in =
          new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
        copy = (ConversationParser) in.readObject();
      }
      assertEquals(parser, copy);
      assertEquals("81", accepted(copy.parseJson("{\"id\": 81, \"prompt\": \"p\"}", SOURCE, 1))
          .getId());
    }
  }

  @Nested
  class Results {

    @Test
    void reasonCodesAreTheDocumentedSnakeCaseNames() {
      assertEquals(
          Set.of(
              "invalid_utf8", "malformed_json", "not_an_object", "unknown_format",
              "missing_field", "empty_messages", "unknown_role", "empty_content",
              "bad_field_type", "no_user_turn", "prompt_too_long", "too_many_turns"),
          Arrays.stream(ParseResult.Reason.values())
              .map(ParseResult.Reason::code)
              .collect(Collectors.toSet()));
    }

    @Test
    void accessorsOfTheOtherOutcomeThrow() {
      ParseResult failure = auto("[]");
      ParseResult success = auto("{\"prompt\": \"p\"}");
      assertThrows(IllegalStateException.class, failure::conversation);
      assertThrows(IllegalStateException.class, success::reason);
      assertThrows(IllegalStateException.class, success::detail);
      assertEquals(ParseResult.Reason.NOT_AN_OBJECT, failure.failureReason());
    }

    @Test
    void conversationIsCopiedSoResultsStayImmutable() {
      ParseResult success = auto("{\"prompt\": \"p\"}");
      success.conversation().setId("changed");
      success.conversation().getTurns().add("extra");
      assertEquals(
          ConversationParser.contentId(null, List.of("p")), success.conversation().getId());
      assertEquals(List.of("p"), success.conversation().getTurns());
    }
  }

  @Nested
  class AvroRowConversion {

    private final Schema message =
        SchemaBuilder.record("Message").fields()
            .requiredString("role")
            .requiredString("content")
            .endRecord();
    private final Schema schema =
        SchemaBuilder.record("Row").fields()
            .requiredString("id")
            .requiredLong("n")
            .name("messages").type().array().items(message).noDefault()
            .name("tags").type().map().values().stringType().noDefault()
            .name("blob").type().bytesType().noDefault()
            .optionalString("note")
            .endRecord();

    private GenericRecord msg(String role, String content) {
      GenericRecord r = new GenericData.Record(message);
      r.put("role", new Utf8(role));
      r.put("content", new Utf8(content));
      return r;
    }

    private GenericRecord row() {
      GenericData.Array<GenericRecord> messages =
          new GenericData.Array<>(schema.getField("messages").schema(),
              List.of(msg("user", "hi"), msg("assistant", "hello")));
      Map<Utf8, Utf8> tags = new LinkedHashMap<>();
      tags.put(new Utf8("lang"), new Utf8("en"));
      GenericRecord r = new GenericData.Record(schema);
      r.put("id", new Utf8("r1"));
      r.put("n", 7L);
      r.put("messages", messages);
      r.put("tags", tags);
      r.put("blob", ByteBuffer.wrap(new byte[] {9, 8}));
      r.put("note", null);
      return r;
    }

    @Test
    void toPlainMapConvertsNestedAvroValuesToPlainJava() {
      Map<String, Object> plain = AvroRows.toPlainMap(row());
      assertEquals(List.of("id", "n", "messages", "tags", "blob", "note"),
          List.copyOf(plain.keySet()));
      assertEquals("r1", plain.get("id"));
      assertEquals(7L, plain.get("n"));
      assertEquals(
          List.of(Map.of("role", "user", "content", "hi"),
              Map.of("role", "assistant", "content", "hello")),
          plain.get("messages"));
      assertEquals(Map.of("lang", "en"), plain.get("tags"));
      assertArrayEquals(new byte[] {9, 8}, (byte[]) plain.get("blob"));
      assertTrue(plain.containsKey("note"));
      assertNull(plain.get("note"));
    }

    @Test
    void convertedRowParsesAsMessages() {
      Conversation c = accepted(AUTO.parseRow(AvroRows.toPlainMap(row()), "x.parquet", 2));
      assertEquals("r1", c.getId());
      assertEquals("messages", c.getFormat());
      assertEquals(List.of("hi"), c.getTurns());
    }
  }
}
