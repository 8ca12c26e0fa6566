package dev.moaa.prompts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PromptTemplateTest {

  @Test
  void bundledTemplates_loadAndCarryAContentHashInTheirVersion() {
    for (String id : List.of(PromptTemplate.AGGREGATOR_V1, PromptTemplate.PROPOSER_REFINE_V1)) {
      PromptTemplate t = PromptTemplate.load(id);
      assertTrue(t.version().matches(java.util.regex.Pattern.quote(id) + "#[0-9a-f]{8}"), t.version());
      assertTrue(t.text().contains("{{proposals}}"), id + " must present the proposals");
    }
  }

  @Test
  void renderWithProposals_numbersEveryDraftInOrder() {
    String out = PromptTemplate.load(PromptTemplate.AGGREGATOR_V1)
        .renderWithProposals(List.of("alpha", "  beta  ", "gamma"));
    int a = out.indexOf("Draft 1:\nalpha");
    int b = out.indexOf("Draft 2:\nbeta");
    int c = out.indexOf("Draft 3:\ngamma");
    assertTrue(a >= 0 && b > a && c > b, out);
    assertFalse(out.contains("{{"), "no placeholder left");
  }

  @Test
  void givenEditedText_versionChanges() {
    assertNotEquals(PromptTemplate.of("x/v1", "a {{proposals}}").version(),
        PromptTemplate.of("x/v1", "b {{proposals}}").version());
  }

  @Test
  void render_replacementTextWithDollarSignsIsLiteral() {
    assertEquals("cost $1 \\ ok", PromptTemplate.of("x/v1", "cost {{v}} ok").render(Map.of("v", "$1 \\")));
  }

  @Test
  void givenMissingValueOrUnknownTemplate_failsWithAClearMessage() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PromptTemplate.of("x/v1", "{{who}}").render(Map.of()));
    assertTrue(e.getMessage().contains("{{who}}"));
    assertThrows(IllegalArgumentException.class, () -> PromptTemplate.load("judge/none/v9"));
    assertThrows(IllegalArgumentException.class, () -> PromptTemplate.load("../etc/passwd"));
  }
}
