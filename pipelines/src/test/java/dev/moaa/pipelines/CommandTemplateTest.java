package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CommandTemplateTest {
  private static final Set<String> SCALARS = TrainSettings.SCALAR_PLACEHOLDERS;
  private static final Set<String> LISTS = TrainSettings.LIST_PLACEHOLDERS;

  private static List<String> render(String template, Map<String, String> scalars, Map<String, List<String>> lists) {
    return CommandTemplate.parse(template, SCALARS, LISTS).render(scalars, lists);
  }

  @Test
  void givenValuesWithSpacesQuotesAndSemicolons_eachPlaceholderStaysOneArgument() {
    String evil = "/data/my run; rm -rf ~ 'x' \"y\" $(id)";
    List<String> argv = render("sbatch --wait train.sh {recipe} {stage} {output_dir} {base_model}",
        Map.of("recipe", evil, "stage", "sft", "output_dir", "/out dir"), Map.of());
    assertEquals(List.of("sbatch", "--wait", "train.sh", evil, "sft", "/out dir", ""), argv,
        "a missing value is one empty argument, so positions stay");
  }

  @Test
  void aWholeWordListPlaceholderBecomesOneArgumentPerValue_insideAWordItIsCommaJoined() {
    Map<String, List<String>> lists = Map.of("data", List.of("/a b/*.parquet", "/c/*.parquet"),
        "args", List.of("--recipe", "r.yaml"));
    assertEquals(List.of("run", "/a b/*.parquet", "/c/*.parquet", "--data=/a b/*.parquet,/c/*.parquet", "--recipe",
        "r.yaml"), render("run {data} --data={data} {args}", Map.of(), lists));
    assertEquals(List.of("run"), render("run {data}", Map.of(), Map.of("data", List.of())));
  }

  @Test
  void quotingFollowsTheShell_butNothingIsExpanded() {
    assertEquals(List.of("sh", "-c", "echo $HOME; exit 3", "a b", "it's", "x\"y", "*.txt"),
        CommandTemplate.split("sh -c 'echo $HOME; exit 3' \"a b\" it\\'s \"x\\\"y\" *.txt"));
    assertEquals(List.of("{stage}", "sft"), render("{{stage}} {stage}", Map.of("stage", "sft"), Map.of()));
    assertEquals(List.of("a", ""), CommandTemplate.split("a ''"));
  }

  @Test
  void badTemplates_areRefusedWithTheReason() {
    assertTrue(assertThrows(IllegalArgumentException.class, () -> CommandTemplate.parse("run {nope}", SCALARS, LISTS))
        .getMessage().contains("unknown placeholder {nope}"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> CommandTemplate.parse("run 'x", SCALARS, LISTS))
        .getMessage().contains("unclosed single quote"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> CommandTemplate.parse("run \"x", SCALARS, LISTS))
        .getMessage().contains("unclosed double quote"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> CommandTemplate.parse("run {stage", SCALARS, LISTS))
        .getMessage().contains("unclosed placeholder"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> CommandTemplate.parse("  ", SCALARS, LISTS))
        .getMessage().contains("empty"));
  }

  @Test
  void display_quotesWhatAShellWouldSplit() {
    assertEquals("python -m x --data '/a b/*.parquet' 'it'\\''s' ''",
        CommandTemplate.display(List.of("python", "-m", "x", "--data", "/a b/*.parquet", "it's", "")));
  }
}
