package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.RunTarget;
import dev.moaa.transforms.input.InputFormat;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.apache.beam.runners.direct.DirectOptions;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.jupiter.api.Test;

class RunnerDefaultsTest {
  private static final String CWD = Paths.get("").toAbsolutePath().toString();

  /** Beam's options from {@code flags}, with the defaults of a config whose models allow 16 calls in all. */
  private static PipelineOptions options(Function<String, Optional<Path>> stageFor, String... flags) {
    PipelineOptions o = PipelineOptionsFactory.fromArgs(flags).create();
    RunnerDefaults.apply(o, RunnerDefaults.given(List.of(flags)), 16, stageFor);
    return o;
  }

  private static PipelineOptions options(String... flags) {
    return options(master -> Optional.empty(), flags);
  }

  @Test
  void onFlink_relativeInputsAndOutput_becomeAbsolute_urlsAndAbsolutePathsStay() {
    PipelineOptions flink = options("--runner=FlinkRunner");
    RunSpec spec = RunnerDefaults.forRunner(new RunSpec(List.of("data/*.jsonl", "/abs/x.parquet", "gs://bucket/y.jsonl"),
        "out/run1", InputFormat.AUTO, 1), flink);
    assertEquals(List.of(CWD + "/data/*.jsonl", "/abs/x.parquet", "gs://bucket/y.jsonl"), spec.inputs());
    assertEquals(CWD + "/out/run1", spec.output());
    FlinkPipelineOptions f = flink.as(FlinkPipelineOptions.class);
    assertTrue(f.isStreaming(), "streaming");
    assertTrue(f.getFasterCopy(), "fasterCopy");
    assertEquals(64L, f.getMaxBundleSize());
    assertEquals(10000L, f.getCheckpointingInterval());
    FlinkPipelineOptions userCopies = options("--runner=FlinkRunner", "--fasterCopy=false").as(FlinkPipelineOptions.class);
    assertFalse(userCopies.getFasterCopy(), "a flag the user gives wins");
    assertEquals(new RunTarget("FlinkRunner", false, "[auto]", f.getParallelism()), RunnerDefaults.target(flink));
  }

  @Test
  void onTheDirectRunner_pathsStayAsGiven() {
    PipelineOptions direct = options();
    RunSpec spec = RunnerDefaults.forRunner(new RunSpec(List.of("data/*.jsonl"), "out", InputFormat.AUTO, 1), direct);
    assertEquals(List.of("data/*.jsonl"), spec.inputs());
    assertEquals("out", spec.output());
    assertEquals(32, direct.as(DirectOptions.class).getTargetParallelism());
    assertFalse(direct.as(DirectOptions.class).isEnforceImmutability());
    assertEquals(RunTarget.directRunner(), RunnerDefaults.target(direct));
    assertEquals(8, options("--targetParallelism=8").as(DirectOptions.class).getTargetParallelism(),
        "a flag the user gives wins");
  }

  @Test
  void onAFlinkCluster_theJobIsDetached_andShipsNoJarWhenTheClusterHoldsThisOne() {
    Path empty = Paths.get("/tmp/empty.jar");
    List<String> asked = new ArrayList<>();
    FlinkPipelineOptions f = options(master -> {
      asked.add(master);
      return Optional.of(empty);
    }, "--runner=FlinkRunner", "--flinkMaster=127.0.0.1:8081", "--parallelism=4").as(FlinkPipelineOptions.class);
    assertEquals(List.of("127.0.0.1:8081"), asked);
    assertFalse(f.getAttachedMode(), "detached");
    assertEquals(List.of(empty.toString()), f.getFilesToStage());
    assertEquals(new RunTarget("FlinkRunner", false, "127.0.0.1:8081", 4), RunnerDefaults.target(f));

    FlinkPipelineOptions otherBuild = options(master -> Optional.empty(), "--runner=FlinkRunner",
        "--flinkMaster=127.0.0.1:8081").as(FlinkPipelineOptions.class);
    assertNull(otherBuild.getFilesToStage(), "Beam stages the class path: " + otherBuild.getFilesToStage());
  }

  @Test
  void theUsersFlinkFlagsWin_andAnEmbeddedClusterIsNeitherAskedNorDetached() {
    FlinkPipelineOptions given = options(master -> Optional.of(Paths.get("/tmp/empty.jar")), "--runner=FlinkRunner",
        "--flinkMaster=127.0.0.1:8081", "--filesToStage=/my/job.jar", "--attachedMode=true")
        .as(FlinkPipelineOptions.class);
    assertEquals(List.of("/my/job.jar"), given.getFilesToStage());
    assertTrue(given.getAttachedMode(), "attached, as given");

    FlinkPipelineOptions embedded = options(master -> {
      throw new AssertionError("an embedded cluster is not asked: " + master);
    }, "--runner=FlinkRunner").as(FlinkPipelineOptions.class);
    assertTrue(embedded.getAttachedMode(), "Beam's default: attached");
    assertNull(embedded.getFilesToStage());
  }

  @Test
  void aCorpusLargerThanTheDirectRunnerHolds_goesToFlinksEmbeddedBatchRunner_unlessARunnerIsNamed() throws Exception {
    Path dir = java.nio.file.Files.createTempDirectory("corpus");
    Path file = dir.resolve("p.jsonl");
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 500; i++) {
      b.append("{\"prompt\": \"question ").append(i).append("\"}\n");
    }
    java.nio.file.Files.writeString(file, b);
    String previous = System.getProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY);
    try {
      System.setProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY, "499");
      PipelineOptions o = PipelineOptionsFactory.create();
      java.util.Set<String> given = new java.util.HashSet<>();
      Optional<String> line = RunnerDefaults.chooseForCorpus(o, given, List.of(dir + "/*.jsonl"));
      assertTrue(line.isPresent());
      assertTrue(line.get().startsWith("about 500 rows in 1 file (1 MB): more than the 499 the DirectRunner holds"),
          line.get());
      assertTrue(line.get().contains("--runner=DirectRunner keeps the DirectRunner"), line.get());
      RunnerDefaults.apply(o, given, 16, master -> Optional.empty());
      FlinkPipelineOptions f = o.as(FlinkPipelineOptions.class);
      assertEquals("FlinkRunner", o.getRunner().getSimpleName());
      assertEquals("[local]", f.getFlinkMaster());
      assertFalse(f.isStreaming(), "batch mode: its groups spill");
      assertEquals(Runtime.getRuntime().availableProcessors(), f.getParallelism(), "a subtask per core");
      assertEquals(new RunTarget("FlinkRunner", false, "[local]", f.getParallelism()), RunnerDefaults.target(o));
      assertTrue(RunnerDefaults.target(o).embeddedFlink());

      System.setProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY, "500");
      PipelineOptions small = PipelineOptionsFactory.create();
      assertTrue(RunnerDefaults.chooseForCorpus(small, new java.util.HashSet<>(), List.of(file.toString())).isEmpty(),
          "at the limit the DirectRunner keeps the run");
      System.setProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY, "10");
      PipelineOptions named = PipelineOptionsFactory.fromArgs("--runner=DirectRunner").create();
      assertTrue(RunnerDefaults.chooseForCorpus(named, RunnerDefaults.given(List.of("--runner=DirectRunner")),
          List.of(file.toString())).isEmpty(), "a runner the user names wins");
      assertTrue(RunnerDefaults.chooseForCorpus(PipelineOptionsFactory.create(), new java.util.HashSet<>(),
          List.of(dir + "/missing-*.jsonl")).isEmpty(), "nothing matched: the run reports it");
    } finally {
      if (previous == null) {
        System.clearProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY);
      } else {
        System.setProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY, previous);
      }
    }
  }

  @Test
  void jobsAreNamedAfterTheProduct_unlessTheUserNamesThem() {
    assertTrue(options("--runner=FlinkRunner").getJobName().startsWith("moaa-"), options().getJobName());
    assertEquals("nightly", options("--runner=FlinkRunner", "--jobName=nightly").getJobName());
  }

  @Test
  void shardsGrowWithTheCorpus_atAboutAQuarterMillionRowsEach() {
    assertEquals(2, RunnerDefaults.shardsFor(0, 2));
    assertEquals(2, RunnerDefaults.shardsFor(500_000, 2));
    assertEquals(3, RunnerDefaults.shardsFor(500_001, 2));
    assertEquals(4, RunnerDefaults.shardsFor(1_000_000, 2));
    assertEquals(40, RunnerDefaults.shardsFor(10_000_000, 2));
    assertEquals(10_000, RunnerDefaults.shardsFor(Long.MAX_VALUE / 2, 2));
  }

  @Test
  void submitOnly_needsACluster_andSubmitsDetached() {
    IllegalArgumentException direct = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> RunnerDefaults.submitOnly(options(), false));
    assertTrue(direct.getMessage().contains("--runner=FlinkRunner"), direct.getMessage());
    IllegalArgumentException embedded = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> RunnerDefaults.submitOnly(options("--runner=FlinkRunner", "--flinkMaster=[local]"), false));
    assertTrue(embedded.getMessage().contains("[local] runs it in this process"), embedded.getMessage());

    PipelineOptions cluster = options("--runner=FlinkRunner", "--flinkMaster=127.0.0.1:8081", "--attachedMode=true");
    RunnerDefaults.submitOnly(cluster, false);
    assertFalse(cluster.as(FlinkPipelineOptions.class).getAttachedMode(), "submitted detached: the run returns");

    // main run by a Flink cluster: its job runs there ([auto]); a master of its own is refused
    PipelineOptions inside = options("--runner=FlinkRunner");
    RunnerDefaults.submitOnly(inside, true);
    assertFalse(inside.as(FlinkPipelineOptions.class).getAttachedMode());
    IllegalArgumentException elsewhere = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> RunnerDefaults.submitOnly(options("--runner=FlinkRunner", "--flinkMaster=10.0.0.1:8081"), true));
    assertTrue(elsewhere.getMessage().contains("leave out --flinkMaster=10.0.0.1:8081"), elsewhere.getMessage());
  }
}
