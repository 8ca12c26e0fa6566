package dev.moaa.runners.flink;

/**
 * Whether this jar's {@code main} runs inside a Flink cluster: the JobManager runs it when a jar
 * is submitted through Flink's REST API ({@code POST /jars/:id/run}), which is how the Flink
 * Kubernetes Operator starts a session job. Flink then loads the jar's classes through its
 * user-code class loader, and the job a pipeline submits goes to that cluster. Such a run must
 * return once its job is submitted, and must not end the JVM: it is the JobManager's.
 */
public final class InsideFlink {
  private static final String USER_CODE_LOADER = "org.apache.flink.util.FlinkUserCodeClassLoader";

  private InsideFlink() {}

  /** True when this class was loaded by Flink's user-code class loader (a jar run by a Flink cluster). */
  public static boolean program() {
    return loadedByFlinkUserCode(InsideFlink.class.getClassLoader());
  }

  static boolean loadedByFlinkUserCode(ClassLoader loader) {
    for (ClassLoader l = loader; l != null; l = l.getParent()) {
      for (Class<?> c = l.getClass(); c != null; c = c.getSuperclass()) {
        if (USER_CODE_LOADER.equals(c.getName())) {
          return true;
        }
      }
    }
    return false;
  }
}
