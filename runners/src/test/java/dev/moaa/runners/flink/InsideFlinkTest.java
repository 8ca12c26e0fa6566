package dev.moaa.runners.flink;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URL;
import org.apache.flink.util.FlinkUserCodeClassLoaders;
import org.junit.jupiter.api.Test;

class InsideFlinkTest {
  @Test
  void flinksUserCodeClassLoaders_areTold_fromAPlainJvm() throws Exception {
    assertFalse(InsideFlink.program(), "the tests run in a plain JVM: a run here exits with its code");
    assertFalse(InsideFlink.loadedByFlinkUserCode(ClassLoader.getSystemClassLoader()));
    assertFalse(InsideFlink.loadedByFlinkUserCode(null));
    URL[] none = new URL[0];
    ClassLoader parent = getClass().getClassLoader();
    // the loaders the JobManager runs a submitted jar's main with, in either resolve order
    try (var childFirst = FlinkUserCodeClassLoaders.childFirst(none, parent, new String[0], t -> { }, false);
        var parentFirst = FlinkUserCodeClassLoaders.parentFirst(none, parent, t -> { }, false)) {
      assertTrue(InsideFlink.loadedByFlinkUserCode(childFirst));
      assertTrue(InsideFlink.loadedByFlinkUserCode(parentFirst));
      assertTrue(InsideFlink.loadedByFlinkUserCode(new java.net.URLClassLoader(none, childFirst)),
          "a loader below one of Flink's");
    }
  }
}
