package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
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
    assertTrue(args.contains("--fasterCopy=true"), args.toString());
    List<String> userCopies = Arrays.asList(RunnerDefaults.apply(new String[] {"--runner=FlinkRunner",
        "--fasterCopy=false"}, 16));
    assertEquals(1, userCopies.stream().filter(a -> a.startsWith("--fasterCopy")).count(), "a flag the user gives wins");
    assertTrue(userCopies.contains("--fasterCopy=false"));
  }

  @Test
  void onTheDirectRunner_pathsStayAsGiven() {
    List<String> args = Arrays.asList(RunnerDefaults.apply(new String[] {"--input=data/*.jsonl", "--output=out"}, 16));
    assertTrue(args.contains("--input=data/*.jsonl"));
    assertTrue(args.contains("--output=out"));
    assertEquals("--targetParallelism=32", args.stream().filter(a -> a.startsWith("--targetParallelism=")).findFirst().orElseThrow());
  }

  @Test
  void onAFlinkCluster_theJobIsDetached_andShipsNoJarWhenTheClusterHoldsThisOne() {
    Path empty = Paths.get("/tmp/empty.jar");
    List<String> asked = new ArrayList<>();
    List<String> args = Arrays.asList(RunnerDefaults.apply(new String[] {"--runner=FlinkRunner",
        "--flinkMaster=127.0.0.1:8081"}, 16, master -> {
          asked.add(master);
          return Optional.of(empty);
        }));
    assertEquals(List.of("127.0.0.1:8081"), asked);
    assertTrue(args.contains("--attachedMode=false"), args.toString());
    assertTrue(args.contains("--filesToStage=" + empty), args.toString());

    List<String> otherBuild = Arrays.asList(RunnerDefaults.apply(new String[] {"--runner=FlinkRunner",
        "--flinkMaster=127.0.0.1:8081"}, 16, master -> Optional.empty()));
    assertTrue(otherBuild.stream().noneMatch(a -> a.startsWith("--filesToStage=")), "Beam stages the class path: " + otherBuild);
  }

  @Test
  void theUsersFlinkFlagsWin_andAnEmbeddedClusterIsNeitherAskedNorDetached() {
    List<String> given = Arrays.asList(RunnerDefaults.apply(new String[] {"--runner=FlinkRunner",
        "--flinkMaster=127.0.0.1:8081", "--filesToStage=/my/job.jar", "--attachedMode=true"}, 16,
        master -> Optional.of(Paths.get("/tmp/empty.jar"))));
    assertEquals(1, given.stream().filter(a -> a.startsWith("--filesToStage=")).count(), given.toString());
    assertTrue(given.contains("--filesToStage=/my/job.jar"));
    assertFalse(given.contains("--attachedMode=false"), given.toString());

    List<String> embedded = Arrays.asList(RunnerDefaults.apply(new String[] {"--runner=FlinkRunner"}, 16, master -> {
      throw new AssertionError("an embedded cluster is not asked: " + master);
    }));
    assertTrue(embedded.stream().noneMatch(a -> a.startsWith("--attachedMode=") || a.startsWith("--filesToStage=")),
        embedded.toString());
  }
}
