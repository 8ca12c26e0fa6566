package dev.moaa.tests;

import java.util.List;

/** The SFT end-to-end checks on embedded Flink (streaming, the product's Flink default). */
class SftEndToEndFlinkTest extends SftEndToEndTest {
  @Override
  protected List<String> runnerArgs() {
    return List.of("--runner=FlinkRunner", "--flinkMaster=[local]", "--parallelism=2");
  }

  @Override
  protected String workName() {
    return "sft-flink";
  }
}
