package dev.moaa.transforms.clean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ContaminationIndexTest {
  private static ContaminationIndex index;

  @BeforeAll
  static void build() {
    index = ContaminationIndex.of(BenchmarkPrompts.bundled(BenchmarkPrompts.ALL), 8, 0.5);
  }

  private static Optional<ContaminationIndex.Match> match(String text) {
    return index.match(List.of(text));
  }

  @Test
  void bundledSets_holdEveryPrompt_withTheirIds() {
    List<BenchmarkPrompt> all = BenchmarkPrompts.bundled(BenchmarkPrompts.ALL);
    assertEquals(805 + 500 + 750 + 160, all.size());
    assertTrue(all.contains(new BenchmarkPrompt("mt_bench", "81", 2,
        "Rewrite your previous response. Start every sentence with the letter A.")));
    assertTrue(all.contains(new BenchmarkPrompt("arena_hard_v0.1", "328c149ed45a41c0b9d6f14659e63599", 1,
        "Use ABC notation to write a melody in the style of a folk tune.")));
    assertTrue(all.contains(new BenchmarkPrompt("alpaca_eval", "4", 1, "How do I wrap a present neatly?")));
    assertEquals(160, BenchmarkPrompts.bundled(List.of("mt_bench", "mt_bench")).size());
    assertThrows(IllegalArgumentException.class, () -> BenchmarkPrompts.bundled(List.of("mmlu")));
  }

  @Test
  void verbatimPrompt_withOtherCaseAndPunctuation_matchesItsQuestion() {
    ContaminationIndex.Match m = match("DRAFT a professional e-mail seeking your supervisor's feedback on the "
        + "\"Quarterly Financial Report\" you prepared!! Ask specifically about the data analysis, presentation style "
        + "and the clarity of conclusions drawn -- keep the email short and to the point").orElseThrow();
    assertEquals("mt_bench", m.prompt().benchmark());
    assertEquals("82", m.prompt().questionId());
    assertTrue(m.overlap() > 0.8, "overlap " + m.overlap());
    // MT-Bench 81 is also in AlpacaEval 2 (its vicuna part): the earlier-listed set is named
    assertEquals("alpaca_eval", match("Compose an engaging travel blog post about a recent trip to Hawaii, highlighting "
        + "cultural experiences and must-see attractions.").orElseThrow().prompt().benchmark());
  }

  @Test
  void longPrompt_withWordsAddedAndRemoved_stillMatches() {
    String original = "Draft a professional email seeking your supervisor's feedback on the 'Quarterly Financial Report' "
        + "you prepared. Ask specifically about the data analysis, presentation style, and the clarity of conclusions "
        + "drawn. Keep the email short and to the point.";
    String edited = original.replace("professional ", "").replace("Keep the email", "Please keep the whole email");
    ContaminationIndex.Match m = match(edited).orElseThrow();
    assertEquals("82", m.prompt().questionId());
    assertTrue(m.overlap() >= 0.5 && m.overlap() < 1, "overlap " + m.overlap());
  }

  @Test
  void shortAlpacaInstruction_embeddedInALongerRequest_matchesByItsOwnLength() {
    ContaminationIndex.Match m = match("Hey there! My kid asked me this yesterday and I had no idea. "
        + "How did US states get their names? Please answer in a few short paragraphs for a ten year old.").orElseThrow();
    assertEquals("alpaca_eval", m.prompt().benchmark());
    assertEquals("1", m.prompt().questionId());
    assertEquals(7, m.gramSize());
  }

  @Test
  void veryShortBenchmarkPrompts_matchOnlyAWholeTurn() {
    assertTrue(match("what is Atlantis").isPresent());
    assertFalse(match("Tell me a story about a diver. What is Atlantis in that story, a real city?").isPresent());
    assertFalse(match("I wrote a merge sort in Go. Can you parallelize it? It is slow on big arrays.").isPresent());
  }

  @Test
  void ordinaryPrompts_onTheSameTopics_areNotMatched() {
    assertFalse(match("Write a blog post about my week in Maui: the food, the beaches and a luau I went to.").isPresent());
    assertFalse(match("How do I wrap an oddly shaped gift, like a bicycle?").isPresent());
    assertFalse(match("Explain how a dead-letter queue works in a streaming data pipeline.").isPresent());
    assertFalse(match("").isPresent());
  }

  @Test
  void everyTurnIsChecked_andTheBestOneIsReported() {
    ContaminationIndex.Match m = index.match(List.of("Hello, I need help with a few things today.",
        "Use ABC notation to write a melody in the style of a folk tune.")).orElseThrow();
    assertEquals("arena_hard_v0.1", m.prompt().benchmark());
  }

  @Test
  void userFile_acceptsPromptInstructionAndTurns_andNamesBadLines() throws Exception {
    List<BenchmarkPrompt> p = BenchmarkPrompts.read("mine", new StringReader(
        "{\"prompt\": \"first question text\", \"id\": \"a\"}\n\n{\"instruction\": \"second\"}\n"
            + "{\"turns\": [{\"content\": \"third\"}, \"fourth\"], \"question_id\": 7}\n"));
    assertEquals(List.of(new BenchmarkPrompt("mine", "a", 1, "first question text"), new BenchmarkPrompt("mine", "3", 1, "second"),
        new BenchmarkPrompt("mine", "7", 1, "third"), new BenchmarkPrompt("mine", "7", 2, "fourth")), p);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BenchmarkPrompts.read("mine", new StringReader("{\"prompt\": \"ok\"}\n{\"text\": \"no\"}\n")));
    assertTrue(e.getMessage().contains("line 2"), e.getMessage());
  }

  @Test
  void normalizer_lowercasesStripsPunctuation_andSplitsHanCharacters() {
    assertEquals("hello world 42", TextNormalizer.normalize("  Hello,\tWORLD!! 42 "));
    assertEquals(List.of("写", "一", "首", "诗"), TextNormalizer.words("写一首诗。"));
    assertEquals(TextNormalizer.contentKey(List.of("Hi there!")), TextNormalizer.contentKey(List.of("hi  THERE")));
    assertFalse(TextNormalizer.contentKey(List.of("?")).equals(TextNormalizer.contentKey(List.of("!"))));
  }

  @Test
  void minHash_rowsPerBand_catchPairsAtTheThreshold() {
    assertEquals(8, MinHasher.rowsPerBand(0.9));
    assertEquals(4, MinHasher.rowsPerBand(0.8));
    long[] a = MinHasher.shingles(TextNormalizer.words("one two three four five six seven"));
    long[] b = MinHasher.shingles(TextNormalizer.words("one two three four five six eight"));
    assertEquals(2 / 4.0, MinHasher.jaccard(a, b), 1e-9);
  }
}
