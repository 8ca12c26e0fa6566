package dev.moaa.runners.flink;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.pipelines.ExitCodes;
import dev.moaa.pipelines.JobEnd;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunFolder;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.transforms.io.StoragePath;
import java.io.IOException;
import java.io.PrintStream;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code moaa cancel --output=DIR}: stops the run that writes an output folder. A job only submitted
 * to a Flink cluster ({@code _run/submitted.json}) is cancelled through the cluster's REST API; a
 * run that waits for its job (its lease names the job) has the job cancelled the same way and its
 * process on this host asked to stop; a run on this host without a cluster job (the DirectRunner,
 * embedded Flink) is asked to stop (SIGTERM), as Ctrl-C would. The folder keeps what was written and
 * paid for: the same command resumes it.
 */
@Command(name = "cancel", mixinStandardHelpOptions = true,
    description = {"Stop the run writing an output folder: cancel its Flink job on the cluster (a submitted job, or"
        + " the job an attached run waits for) and stop its process on this host. The same command resumes the folder."},
    footer = "%nExit codes: 0 stopped (or nothing was running); 1 the job or the process could not be stopped.")
public final class CancelCommand implements Callable<Integer> {
  @Option(names = "--output", paramLabel = "DIR", required = true, description = "The run's output folder.")
  String output;

  @Option(names = "--flinkMaster", paramLabel = "HOST:PORT",
      description = "The REST address of the cluster (default: the one the run named).")
  String flinkMaster;

  private final PrintStream out;
  private final PrintStream err;

  public CancelCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  @Override
  public Integer call() throws IOException, InterruptedException {
    StoragePath folder = StoragePath.of(RunnerDefaults.absolute(output));
    Optional<JsonNode> holder = RunFolder.holder(folder);
    String job = null;
    String master = flinkMaster;
    if (holder.isPresent() && holder.get().hasNonNull("flink_job")) {
      job = holder.get().path("flink_job").asText();
      master = master != null ? master : holder.get().path("flink_master").asText(null);
    } else {
      Optional<RunCommand.Submitted> s = RunCommand.Submitted.read(folder);
      if (s.isPresent() && s.get().jobId() != null) {
        job = s.get().jobId();
        master = master != null ? master : s.get().flinkMaster();
      }
    }
    int exit = ExitCodes.OK;
    if (job != null) {
      String state = JobEnd.cancel(master, job, 10_000);
      out.println("moaa cancel: Flink job " + job + " on " + master + ": " + state);
      if (!state.equals("CANCELED") && !state.equals("FINISHED") && !state.equals("FAILED")) {
        exit = ExitCodes.FAILED;
      }
    }
    if (holder.isPresent()) {
      Optional<ProcessHandle> p = RunFolder.holderProcess(holder.get());
      if (p.isPresent()) {
        p.get().destroy();
        boolean ended = p.get().onExit().completeOnTimeout(null, 15, TimeUnit.SECONDS).join() != null;
        out.println("moaa cancel: the run's process " + p.get().pid() + (ended ? " stopped" : " did not stop within 15 s"));
        if (!ended) {
          exit = ExitCodes.FAILED;
        }
      } else if (job == null) {
        err.println("moaa cancel: " + folder + " is being written from another host (" + holder.get().path("host")
            .asText() + ", process " + holder.get().path("pid").asText() + ") with no cluster job to cancel: stop it there");
        return ExitCodes.FAILED;
      }
    } else if (job == null) {
      out.println("moaa cancel: no run is writing " + folder);
    }
    return exit;
  }
}
