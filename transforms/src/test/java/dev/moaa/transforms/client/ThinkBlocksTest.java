package dev.moaa.transforms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class ThinkBlocksTest {

  @Test
  void textWithoutTags_isLeftAsItIs() {
    ThinkBlocks.Split s = ThinkBlocks.split("just an answer");
    assertEquals("just an answer", s.answer());
    assertNull(s.thinking());
  }

  @Test
  void blocksAnywhere_areTakenOut() {
    ThinkBlocks.Split s = ThinkBlocks.split("<think>first</think>Answer <think>second</think>goes on.");
    assertEquals("Answer goes on.", s.answer());
    assertEquals("first\nsecond", s.thinking());
  }

  @Test
  void aReplyThatStartsInsideABlock_losesEverythingUpToTheClosingTag() {
    ThinkBlocks.Split s = ThinkBlocks.split("the template opened it\n</think>\n\nThe answer.");
    assertEquals("The answer.", s.answer());
    assertEquals("the template opened it", s.thinking());
  }

  @Test
  void aBlockThatNeverCloses_isAllThinking() {
    ThinkBlocks.Split s = ThinkBlocks.split("Short answer. <think>and then the budget ran out");
    assertEquals("Short answer.", s.answer());
    assertEquals("and then the budget ran out", s.thinking());
  }

  @Test
  void strayTagsAreRemoved_andTheirCaseDoesNotMatter() {
    assertEquals("A and B", ThinkBlocks.strip("A <THINK>x</THINK>and B</think>"));
    assertFalse(ThinkBlocks.hasTags(ThinkBlocks.strip("<think></think><think>")));
  }

  @Test
  void onlyThinking_leavesAnEmptyAnswer() {
    ThinkBlocks.Split s = ThinkBlocks.split("<think>all of it</think>");
    assertEquals("", s.answer());
    assertEquals("all of it", s.thinking());
  }
}
