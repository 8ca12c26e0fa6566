package dev.moaa.runners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunnerDefaultsTest {
  private static final String CWD = Paths.get("").toAbsolutePath().toString();

  @Test
  void onFlink_relativeInputsAndOutput_becomeAbsolute_urlsAndAbsolutePathsStay() {
    List<String> args = Arrays.asList(RunnerDefaults.apply(new String[] {"--config=c.yaml",
        "--input=data/*.jsonl, /abs/x.parquet,gs://bucket/y.jsonl", "--output=out/run1", "--runner=FlinkRunner"}, 16));
    assertTrue(args.contains("--input=" + CWD + "/data/*.jsonl,/abs/x.parquet,gs://bucket/y.jsonl"), args.toString());
    assertTrue(args.contains("--output=" + CWD + "/out/run1"), args.toString());
    assertTrue(args.contains("--config=c.yaml"), "the config is read by the submitting process only");
    assertTrue(args.contains("--streaming=true"), args.toString());
  }

  @Test
  void onTheDirectRunner_pathsStayAsGiven() {
    List<String> args = Arrays.asList(RunnerDefaults.apply(new String[] {"--input=data/*.jsonl", "--output=out"}, 16));
    assertTrue(args.contains("--input=data/*.jsonl"));
    assertTrue(args.contains("--output=out"));
    assertEquals("--targetParallelism=32", args.stream().filter(a -> a.startsWith("--targetParallelism=")).findFirst().orElseThrow());
  }
}
