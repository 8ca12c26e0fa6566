package dev.moaa.runners.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.launch.JobJar;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The parts of the local Flink cluster that need no Flink process: its configuration, its parsing, its command. */
class LocalFlinkClusterConfigTest {

  @Test
  void configYaml_bindsEveryAddressToLoopback_andUsesTheChosenPorts(@TempDir Path dir) {
    String yaml = LocalFlinkCluster.configYaml(LocalFlinkCluster.Settings.in(dir).withSlots(3), 41001, 41002);
    Map<String, String> c = parse(yaml);
    for (String key : List.of("jobmanager.rpc.address", "jobmanager.bind-host", "taskmanager.bind-host",
        "taskmanager.host", "rest.address", "rest.bind-address")) {
      assertEquals("127.0.0.1", c.get(key), key);
    }
    assertEquals("41001", c.get("jobmanager.rpc.port"));
    assertEquals("41002", c.get("rest.port"));
    assertEquals("0", c.get("taskmanager.rpc.port"));
    assertEquals("0", c.get("taskmanager.data.port"));
    assertEquals("0", c.get("blob.server.port"));
    assertEquals("3", c.get("taskmanager.numberOfTaskSlots"));
    assertEquals("1024m", c.get("jobmanager.memory.process.size"));
    assertEquals("2048m", c.get("taskmanager.memory.process.size"));
    assertEquals(dir.resolve("tmp").toString(), c.get("io.tmp.dirs"), "where batch groups spill");
    assertEquals("256m", c.get("taskmanager.memory.managed.size"), "batch groups sort in managed memory");
    assertEquals("192m", c.get("taskmanager.memory.network.min"), "network buffers for batch exchanges");
    assertEquals("192m", c.get("taskmanager.memory.network.max"));
    assertEquals("128", c.get("taskmanager.network.sort-shuffle.min-buffers"));
    assertEquals("1000", c.get("heartbeat.interval"));
    assertEquals("1000", c.get("metrics.fetcher.update-interval"), "the web UI's metrics refresh every second");
    assertTrue(c.get("env.java.opts.all").startsWith("'--add-exports="), "quoted: it starts with a dash");
  }

  @Test
  void configYaml_namesTheJobJarOnTheClassPath_onlyWhenThereIsOne(@TempDir Path dir) throws java.io.IOException {
    Path jar = java.nio.file.Files.write(dir.resolve("moaa.jar"), new byte[] {1, 2, 3});
    Map<String, String> with = parse(LocalFlinkCluster.configYaml(LocalFlinkCluster.Settings.in(dir).withJobJar(jar), 1, 2));
    assertEquals(JobJar.id(jar), with.get(JobJar.CONFIG_KEY));
    Map<String, String> without = parse(LocalFlinkCluster.configYaml(LocalFlinkCluster.Settings.in(dir), 1, 2));
    assertFalse(without.containsKey(JobJar.CONFIG_KEY), without.toString());
  }

  @Test
  void configYaml_extraConfigWinsOverTheDefaults(@TempDir Path dir) {
    String yaml = LocalFlinkCluster.configYaml(LocalFlinkCluster.Settings.in(dir)
        .withConfig(Map.of("heartbeat.timeout", "60000")), 1, 2);
    assertEquals("60000", parse(yaml).get("heartbeat.timeout"));
  }

  @Test
  void resourceParams_takeTheJvmFlagsThenTheDynamicOptions_fromTheResultLines() {
    String output = String.join("\n",
        "INFO  [] - Loading configuration property: taskmanager.numberOfTaskSlots, 2",
        "BASH_JAVA_UTILS_EXEC_RESULT:-Xmx436207608 -Xms436207608 -XX:MaxDirectMemorySize=248302798 -XX:MaxMetaspaceSize=268435456",
        "INFO  [] - The derived from fraction network memory is 108.800mb (113039744 bytes)",
        "BASH_JAVA_UTILS_EXEC_RESULT:-D taskmanager.memory.network.min=114085070b -D taskmanager.cpu.cores=2.0 ");
    LocalFlinkCluster.ResourceParams p = LocalFlinkCluster.parseResourceParams("GET_TM_RESOURCE_PARAMS", output);
    assertEquals(List.of("-Xmx436207608", "-Xms436207608", "-XX:MaxDirectMemorySize=248302798",
        "-XX:MaxMetaspaceSize=268435456"), p.jvm());
    assertEquals(List.of("-D", "taskmanager.memory.network.min=114085070b", "-D", "taskmanager.cpu.cores=2.0"), p.dynamic());
  }

  @Test
  void resourceParams_withoutTwoResultLines_failWithTheRawOutput() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> LocalFlinkCluster.parseResourceParams("GET_JM_RESOURCE_PARAMS", "Exception in thread main: bad memory"));
    assertTrue(e.getMessage().contains("bad memory"), e.getMessage());
  }

  @Test
  void aMissingLibFolder_saysHowToBuildIt(@TempDir Path dir) {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> LocalFlinkCluster.findLib(dir.resolve("nowhere").toString()));
    assertTrue(e.getMessage().contains("mvn -q install -DskipTests"), e.getMessage());
  }

  @Test
  void stopAndStatus_ofAFolderWithoutCluster_findNothingToStop(@TempDir Path dir) {
    assertEquals(0, LocalFlinkCluster.stop(dir));
    assertFalse(LocalFlinkCluster.status(dir).running());
    Result status = command("status", "--dir=" + dir);
    assertEquals(1, status.code());
    assertTrue(status.out().contains("No Flink cluster"), status.out());
    Result stop = command("stop", "--dir=" + dir);
    assertEquals(0, stop.code());
  }

  @Test
  void badFlags_areUsageErrors(@TempDir Path dir) {
    assertEquals(2, command("start", "--dir=" + dir, "--taskmanagers=0").code());
    assertEquals(2, command("start", "--slots=two").code());
    assertEquals(2, command("start", "--color=blue").code());
    assertEquals(2, command("restart").code());
    assertEquals(2, command().code());
  }

  @Test
  void start_withoutTheFlinkJars_failsWithTheBuildCommand(@TempDir Path dir) {
    Result r = command("start", "--dir=" + dir.resolve("c"), "--lib=" + dir.resolve("no-lib"));
    assertEquals(1, r.code());
    assertTrue(r.err().contains("mvn -q install -DskipTests"), r.err());
  }

  private record Result(int code, String out, String err) {}

  private static Result command(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = FlinkClusterCommand.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private static Map<String, String> parse(String yaml) {
    Map<String, String> c = new LinkedHashMap<>();
    for (String line : yaml.split("\n")) {
      if (!line.startsWith("#") && line.contains(": ")) {
        int i = line.indexOf(": ");
        c.put(line.substring(0, i), line.substring(i + 2));
      }
    }
    return c;
  }

  @Test
  void aStartThatLostAPortRace_isToldByTheJobManagersLogFromThisStartOn(@TempDir Path dir) throws Exception {
    Path log = dir.resolve("jobmanager.log");
    Files.writeString(log, "2026-12-06 INFO starting\nCaused by: java.net.BindException: Could not start rest endpoint"
        + " on any port in port range 46053\n");
    assertTrue(LocalFlinkCluster.lostAPortRace(log, 0));
    long before = Files.size(log);
    Files.writeString(log, "2026-12-06 ERROR another failure\n", java.nio.file.StandardOpenOption.APPEND);
    assertFalse(LocalFlinkCluster.lostAPortRace(log, before), "an earlier start's bind failure does not count");
    assertFalse(LocalFlinkCluster.lostAPortRace(dir.resolve("missing.log"), 0));
  }
}
