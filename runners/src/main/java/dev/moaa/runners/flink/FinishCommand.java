package dev.moaa.runners.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.pipelines.ClusterCounters;
import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.DpoPipeline;
import dev.moaa.pipelines.ExitCodes;
import dev.moaa.pipelines.JobEnd;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.ProgressReporter;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunKind;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.pipelines.report.Reports;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.training.TrainAfterRun;
import dev.moaa.transforms.io.StoragePath;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.beam.runners.core.metrics.MetricsContainerStepMap;
import org.apache.beam.runners.flink.metrics.FlinkMetricContainer;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.metrics.MetricResults;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.client.deployment.StandaloneClusterId;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.runtime.client.JobStatusMessage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code moaa finish}: the second half of a run that only submitted its job to a Flink cluster
 * ({@code --submitOnly}, or the jar's main run by the cluster itself, as the Flink Kubernetes
 * Operator runs a session job). Reads {@code _run/submitted.json} from the output folder, finds
 * the job on the cluster through its REST API, waits for its end, and then does what {@code moaa
 * sft} and {@code moaa dpo} do after a job they waited for: reads the counts the job wrote, sums
 * the per-model usage from the job's counters (Flink keeps them as the job's accumulators), writes
 * the manifest, the dataset card and the report, and exits with the same code. Run again on a
 * folder it finished, it says so and gives the same exit code.
 */
@Command(name = "finish", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Wait for a job that moaa sft or moaa dpo only submitted to a Flink cluster (--submitOnly, or a session"
        + " job of the Flink Kubernetes Operator), then reconcile it and write its manifest, dataset card and report."},
    footer = "%nBeam's flags for object storage (--endpoint=URL, --awsRegion=R, ...) pass through to Beam, as for the run."
        + "%nExit codes, as the run's own: 0 done and reconciled; 1 the job failed or did not reconcile, or no such"
        + " job; 2 bad flags or configuration; 3 stopped by the budget; 4 a model failed more than its max_failure_share,"
        + " or no row was written.")
public final class FinishCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", required = true,
      description = "The configuration the job was submitted with (its hash is checked).")
  Path config;

  @Option(names = "--output", paramLabel = "DIR", required = true,
      description = "The run's output folder (holds _run/submitted.json).")
  String output;

  @Option(names = "--flinkMaster", paramLabel = "HOST:PORT",
      description = "The REST address of the Flink cluster the job runs on (default: the one the run named).")
  String flinkMaster;

  @Option(names = "--progressSeconds", paramLabel = "S", defaultValue = "30",
      description = "Seconds between progress lines while the job runs (rows, calls, tokens and cost so far, from the"
          + " job's metrics on the cluster); 0 turns them off (default: ${DEFAULT-VALUE}).")
  int progressSeconds;

  @Option(names = "--timeoutSeconds", paramLabel = "S", defaultValue = "0",
      description = "Give up waiting after S seconds (exit code 1; the job runs on); 0 waits as long as it runs"
          + " (default: ${DEFAULT-VALUE}).")
  long timeoutSeconds;

  @Option(names = "--submissionTimeoutSeconds", paramLabel = "S", defaultValue = "0",
      description = "Wait up to S seconds for the run to submit its job (a session job started at the same time: the"
          + " operator submits it a little later); 0 expects it submitted (default: ${DEFAULT-VALUE}).")
  long submissionTimeoutSeconds;

  @Option(names = "--submittedAfter", paramLabel = "TIME",
      description = "Take only a submission made at or after TIME (ISO-8601, e.g. 2026-12-06T02:00:00Z): the one a"
          + " scheduler just asked for, not an earlier attempt's in the same folder.")
  Instant submittedAfter;

  /** Beam's own flags for an output in object storage ({@code --endpoint}, {@code --awsRegion}, ...). */
  @Unmatched List<String> beamFlags = new ArrayList<>();

  private final PrintStream out;
  private final PrintStream err;

  public FinishCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  static final long POLL_MS = 500;

  @Override
  public Integer call() throws Exception {
    MoaaConfig c;
    try {
      c = MoaaConfig.load(config);
    } catch (ConfigException e) {
      throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
    }
    // an output in object storage: its endpoint, region and credentials as a run's own
    PipelineOptions options = Cli.beamOptions(spec, beamFlags);
    FileSystems.setDefaultPipelineOptions(options);
    StoragePath folder = StoragePath.of(RunnerDefaults.absolute(output));
    Optional<RunCommand.Submitted> found = submitted(folder);
    if (found.isEmpty()) {
      if (submissionTimeoutSeconds > 0) {
        err.println("moaa finish: no job was submitted into " + folder + " within " + submissionTimeoutSeconds
            + " s: the submission failed, or has not happened (a session job's status says why: kubectl describe"
            + " flinksessionjob NAME; the JobManager's log has the run's output)");
        return ExitCodes.FAILED;
      }
      throw new ParameterException(spec.commandLine(), "no job was submitted into " + folder
          + (submittedAfter == null ? "" : " at or after " + submittedAfter) + " (its " + RunCommand.SUBMITTED_FILE
          + " says which): moaa sft --submitOnly, or a session job, writes it");
    }
    RunCommand.Submitted s = found.get();
    RunKind kind = switch (s.command()) {
      case "sft" -> SftPipeline.KIND;
      case "dpo" -> DpoPipeline.KIND;
      default -> throw new ParameterException(spec.commandLine(), folder + ": a submitted '" + s.command()
          + "' run, which moaa finish does not know");
    };
    if (!c.hash().equals(s.configHash())) {
      throw new ParameterException(spec.commandLine(), "--config " + config + " is not the configuration the job was"
          + " submitted with (hash " + c.hash() + ", the job's " + s.configHash() + ")");
    }
    String name = "moaa finish";
    Integer already = alreadyFinished(kind, c, folder);
    if (already != null) {
      return already;
    }
    String master = flinkMaster != null ? flinkMaster : s.flinkMaster();
    Optional<String> rest = JobEnd.flinkRestAddress(master);
    if (rest.isEmpty()) {
      throw new ParameterException(spec.commandLine(), "--flinkMaster=HOST:PORT: the REST address of the Flink cluster"
          + " the job runs on" + (master == null ? "" : " (the run named " + master + ")"));
    }
    if (s.launch() != null) {
      // the submitted run's launch: the manifest's paid figures are what its job's requests wrote in
      // the folder's call ledger, every attempt of the job included
      c = dev.moaa.pipelines.RunFolder.bind(c, folder, s.launch());
    }
    RunRequest request = new RunRequest(c, s.spec(), false, 0, false);
    try (RestClusterClient<StandaloneClusterId> client = client(rest.get())) {
      Optional<JobID> job = findJob(client, s);
      if (job.isEmpty()) {
        err.println(name + ": no job " + s.jobName() + (s.jobId() == null ? "" : " (" + s.jobId() + ")")
            + " on the Flink cluster at " + rest.get() + ": it was submitted to another cluster, or it ended longer"
            + " ago than the JobManager keeps finished jobs (jobstore.expiration-time, an hour by default)");
        return ExitCodes.FAILED;
      }
      JobID id = job.get();
      out.println(name + ": " + kind.command() + " job " + s.jobName() + " (" + id + ") on " + rest.get()
          + ", into " + folder);
      JobStatus status;
      ProgressReporter progress = progressSeconds <= 0 ? null : ProgressReporter.startForCluster(
          new ClusterCounters(rest.get(), id.toHexString()), c.models(), out, progressSeconds, kind.callsPerRow(c),
          java.time.Duration.between(s.started(), Instant.now()).toMillis() / 1000.0);
      try {
        status = await(client, id, s.jobName());
      } finally {
        if (progress != null) {
          progress.close();
        }
      }
      if (status == null) {
        err.println(name + ": the job is still running after " + timeoutSeconds + " s (--timeoutSeconds); it runs on:"
            + " run moaa finish again to wait for its end");
        return ExitCodes.FAILED;
      }
      PipelineResult.State state = switch (status) {
        case FINISHED -> PipelineResult.State.DONE;
        case FAILED -> PipelineResult.State.FAILED;
        case CANCELED -> PipelineResult.State.CANCELLED;
        default -> PipelineResult.State.UNKNOWN;
      };
      if (state == PipelineResult.State.FAILED) {
        err.println(name + ": the job failed: " + JobEnd.flinkFailure(rest.get(), s.jobName())
            .orElse("see the JobManager's log or web UI (job " + id + ")"));
      }
      // the counters come from the REST API's cached view of the job: once it shows the job's end
      JobEnd.awaitFinalView(rest.get(), id.toHexString());
      long endMs = client.getJobDetails(id).get(30, TimeUnit.SECONDS).getEndTime();
      Instant finished = endMs > 0 ? Instant.ofEpochMilli(endMs) : Instant.now();
      MetricResults metrics = metrics(client, id);
      RunCommand.Outcome o = RunCommand.complete(kind, request, s.runner(), new FinishedJob(state, metrics), state,
          s.started(), finished, s.preflight(), null, JobEnd.flinkRestarts(rest.get(), id.toHexString(), state == PipelineResult.State.FAILED),
          Reports.STANDARD, out, err);
      if (o.exitCode() != ExitCodes.OK || o.output() == null) {
        return o.exitCode();
      }
      return TrainAfterRun.train(kind.command(), kind.shardDir(), o.output(), c, out, err);
    }
  }

  /** The folder's submission, waited for up to {@code --submissionTimeoutSeconds}. */
  private Optional<RunCommand.Submitted> submitted(StoragePath folder) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(submissionTimeoutSeconds);
    boolean said = false;
    while (true) {
      Optional<RunCommand.Submitted> found;
      try {
        found = RunCommand.Submitted.read(folder);
      } catch (IOException | RuntimeException e) {
        if (System.nanoTime() < deadline) {
          Thread.sleep(1000); // read while the run was writing it
          continue;
        }
        throw new ParameterException(spec.commandLine(), "cannot read " + folder.resolve(RunCommand.SUBMITTED_FILE)
            + ": " + e.getMessage());
      }
      if (found.isPresent() && submittedAfter != null && found.get().submitted().isBefore(submittedAfter)) {
        found = Optional.empty(); // an earlier attempt's
      }
      if (found.isPresent() || System.nanoTime() >= deadline) {
        return found;
      }
      if (!said) {
        out.println("moaa finish: waiting up to " + submissionTimeoutSeconds + " s for the run to submit its job into "
            + folder);
        said = true;
      }
      Thread.sleep(1000);
    }
  }

  /**
   * The exit code of a folder this command (or the run) already finished: its manifest is
   * written; a missing card or report is written from it. Null for a folder still to finish.
   */
  private Integer alreadyFinished(RunKind kind, MoaaConfig c, StoragePath folder) throws IOException {
    StoragePath manifest = folder.resolve("manifest.json");
    if (!manifest.isFile()) {
      return null;
    }
    RunCommand.Outcome o = RunCommand.finishReports(kind, c, folder, Reports.STANDARD, out, err);
    if (o != null) {
      return o.exitCode();
    }
    JsonNode m = new ObjectMapper().readTree(manifest.readString());
    out.println("moaa finish: the run in " + folder + " is finished (" + m.path("status").asText() + "); its manifest: "
        + manifest);
    return m.path("exit_code").asInt(ExitCodes.FAILED);
  }

  private static RestClusterClient<StandaloneClusterId> client(String address) throws Exception {
    int colon = address.lastIndexOf(':');
    Configuration conf = new Configuration();
    conf.set(RestOptions.ADDRESS, address.substring(0, colon));
    conf.set(JobManagerOptions.ADDRESS, address.substring(0, colon));
    conf.set(RestOptions.PORT, Integer.parseInt(address.substring(colon + 1)));
    return new RestClusterClient<>(conf, StandaloneClusterId.getInstance());
  }

  /**
   * The job: by the id the run recorded, or else the newest job of the recorded name that started
   * after the run did (a fixed {@code --jobName} names every night's job alike).
   */
  static Optional<JobID> findJob(RestClusterClient<?> client, RunCommand.Submitted s) throws Exception {
    java.util.Collection<JobStatusMessage> jobs = client.listJobs().get(30, TimeUnit.SECONDS);
    if (s.jobId() != null) {
      JobID want = JobID.fromHexString(s.jobId());
      return jobs.stream().map(JobStatusMessage::getJobId).filter(want::equals).findFirst();
    }
    long notBefore = s.started().minusSeconds(60).toEpochMilli();
    return jobs.stream()
        .filter(j -> s.jobName().equals(j.getJobName()) && j.getStartTime() >= notBefore)
        .max(java.util.Comparator.comparingLong(JobStatusMessage::getStartTime))
        .map(JobStatusMessage::getJobId);
  }

  /**
   * The job's final status; null when {@code --timeoutSeconds} passed first. Says when the job
   * changes state (created, restarting, ...).
   */
  private JobStatus await(RestClusterClient<?> client, JobID id, String jobName) throws Exception {
    long t0 = System.nanoTime();
    int failures = 0;
    JobStatus said = null;
    while (true) {
      JobStatus status;
      try {
        status = client.getJobStatus(id).get(30, TimeUnit.SECONDS);
        failures = 0;
      } catch (ExecutionException | TimeoutException e) {
        // a JobManager busy for a moment; a cluster gone for a minute is an answer
        if (++failures >= 120) {
          throw e;
        }
        status = null;
      }
      if (status != null && status.isGloballyTerminalState()) {
        return status;
      }
      if (status != null && status != said) {
        out.println("  job " + jobName + " " + status);
        said = status;
      }
      if (timeoutSeconds > 0 && System.nanoTime() - t0 > TimeUnit.SECONDS.toNanos(timeoutSeconds)) {
        return null;
      }
      Thread.sleep(POLL_MS);
    }
  }

  /** The job's Beam counters, as Beam's Flink runner reads them for a job it waited for. */
  private static MetricResults metrics(RestClusterClient<?> client, JobID id) {
    try {
      Map<String, Object> accumulators = client.getAccumulators(id, FinishCommand.class.getClassLoader())
          .get(60, TimeUnit.SECONDS);
      Object v = accumulators.get(FlinkMetricContainer.ACCUMULATOR_NAME);
      MetricsContainerStepMap steps = v instanceof MetricsContainerStepMap m ? m : new MetricsContainerStepMap();
      return MetricsContainerStepMap.asAttemptedOnlyMetricResults(steps);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("the job's counters could not be read from the cluster: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while reading the job's counters", e);
    }
  }
  /** A job that ended, as a {@link PipelineResult}: its state and its counters. */
  record FinishedJob(State state, MetricResults metrics) implements PipelineResult {
    @Override
    public State getState() {
      return state;
    }

    @Override
    public State cancel() {
      return state;
    }

    @Override
    public State waitUntilFinish(org.joda.time.Duration duration) {
      return state;
    }

    @Override
    public State waitUntilFinish() {
      return state;
    }
  }

}
