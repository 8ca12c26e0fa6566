package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Instant;
import dev.moaa.transforms.io.StoragePath;
import dev.moaa.transforms.limits.Coordination;
import dev.moaa.transforms.limits.CoordinationException;
import dev.moaa.transforms.limits.Coordinator;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import dev.moaa.transforms.cache.CacheException;
import dev.moaa.transforms.cache.CacheSpec;
import dev.moaa.transforms.cache.ResponseCache;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.Preflight;
import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * The life of one pipeline run ({@code moaa sft}, {@code moaa dpo}): parse the flags, validate the
 * config, the inputs and the output folder before anything is built; describe the plan; run; then
 * write {@code manifest.json} and the dataset card ({@code README.md}, see {@link RunDocuments}) and
 * print the reconciliation. Exit codes ({@link ExitCodes}): 0 done and reconciled; 1 the run failed or
 * did not reconcile; 2 bad flags or configuration, or a model the preflight found unusable (nothing
 * processed); 3 done and reconciled, but the budget left conversations (dead letters with reason
 * {@code budget}) for a later run; 4 done and reconciled, but a model failed more of its calls than
 * its {@code max_failure_share} allows, or the run wrote no row from a non-empty input.
 *
 * <p>A folder whose run did not complete (killed, failed, or stopped by the budget) is resumed by
 * running the same command again: its partial outputs are replaced, and every answer the earlier
 * run received comes from the response cache, so only calls that had not finished are paid for.
 */
public final class RunCommand {
  private RunCommand() {}

  /**
   * What a finished run produced, for callers that go on (tests, the quick start, benchmarks):
   * {@code output} is the local output folder, null for a run whose output is in object storage.
   */
  public record Outcome(int exitCode, RunManifest.Counts counts, Path output, ObjectNode manifest) {}

  /**
   * Runs one pipeline of {@code kind}: the config is parsed and the flags are read by the caller
   * (the command layer, a benchmark, the loop); {@code options} are Beam's typed options with the
   * runner's defaults applied, and {@code target} says which runner they name.
   */
  public static Outcome execute(RunKind kind, RunRequest request, PipelineOptions options, RunTarget target,
      RunDocuments documents, PrintStream out, PrintStream err) {
    String name = "moaa " + kind.command();
    warmUpClientsAside();
    MoaaConfig config = request.config();
    RunSpec spec = request.spec();
    CompletableFuture<Probes> preflight = CompletableFuture.completedFuture(new Probes(List.of(), 0));
    // the inputs and the output are read and written outside the pipeline too (checks, manifest,
    // card, report): with this run's options, so that object storage has its endpoint and region
    FileSystems.setDefaultPipelineOptions(options);
    RunFolder.Lease lease = null;
    try {
      kind.check(config);
      checkInputs(spec.inputs());
      checkCache(config.cache());
      checkCoordination(config);
      ClusterHosts.checkCacheReachesEveryTaskManager(config.cache(), target);
      // one run at a time in a folder; its budget and its ledger of paid requests are the folder's
      StoragePath folder = StoragePath.of(spec.output());
      String launch = RunFolder.newLaunch();
      lease = RunFolder.lease(folder, name, launch, out);
      if (!request.overwrite()) {
        Outcome finished = finishReports(kind, config, StoragePath.of(spec.output()), documents, out, err);
        if (finished != null) {
          closeQuietly(lease);
          return finished;
        }
      }
      checkOutput(StoragePath.of(spec.output()), request.overwrite(), kind.shardDir(), config.hash());
      if (request.overwrite() && folder.isLocal()) {
        deleteRecursively(RunFolder.ledgerDir(folder));
      }
      config = RunFolder.bind(config, folder, launch);
      request = request.withConfig(config);
      restoreUnstored(config, out);
      dev.moaa.transforms.budget.CallLedger.Summary earlier = readLedger(folder);
      boolean budgetSpent = sayBudgetSoFar(config, earlier, out);
      if (!budgetSpent) {
        reopenSharedBudget(config, earlier.closedAt());
      }
      if (request.preflight() && budgetSpent) {
        out.println("  preflight skipped: the folder's budget is spent, and a probe is a paid request");
      } else if (request.preflight()) {
        // the probes go out now and are awaited once the graph is built, before the output is touched
        long t0 = System.nanoTime();
        MoaaConfig bound = config;
        preflight = CompletableFuture.supplyAsync(() -> new Probes(probe(kind, bound), System.nanoTime() - t0));
      }
    } catch (ConfigException e) {
      err.println(name + ": configuration error: " + e.getMessage());
      if (lease != null) {
        lease.closeLeavingNothing();
      }
      return new Outcome(ExitCodes.USAGE, null, null, null);
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println(name + ": " + e.getMessage());
      if (lease != null) {
        lease.closeLeavingNothing();
      }
      return new Outcome(ExitCodes.USAGE, null, null, null);
    }
    try {
      return runPipeline(kind, request, options, target, documents, preflight, lease, out, err);
    } finally {
      closeQuietly(lease);
    }
  }

  private static void closeQuietly(RunFolder.Lease lease) {
    if (lease != null) {
      lease.close();
    }
  }

  /**
   * Puts into the response cache the answers an earlier launch paid for but could not store (its
   * cache was down): this launch then does not pay for them again.
   */
  private static void restoreUnstored(MoaaConfig config, PrintStream out) {
    if (!config.cache().enabled() || config.budget().ledgerDir() == null) {
      return;
    }
    try {
      dev.moaa.transforms.cache.ResponseCache cache = dev.moaa.transforms.cache.SharedCaches.acquire(config.cache());
      try {
        int n = dev.moaa.transforms.budget.CallLedger.restoreUnstored(Paths.get(config.budget().ledgerDir()),
            cache::put);
        if (n > 0) {
          out.println("  put " + n + " answer(s) an earlier launch paid for but could not store into the response cache");
        }
      } finally {
        dev.moaa.transforms.cache.SharedCaches.release(config.cache());
      }
    } catch (Exception e) {
      throw new IllegalStateException("the answers an earlier launch could not store cannot go into the response"
          + " cache " + config.cache() + ": " + e.getMessage());
    }
  }

  /**
   * A budget shared through the coordination store closes when a call does not fit; a new launch
   * of the folder (after the budget was raised, say) opens it again: the next call that does not
   * fit closes it again.
   */
  private static dev.moaa.transforms.budget.CallLedger.Summary readLedger(StoragePath folder) {
    try {
      return RunFolder.ledger(folder);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the call ledger of " + folder + ": " + e.getMessage());
    }
  }

  private static void reopenSharedBudget(MoaaConfig config, long[] stoppedAt) {
    if (config.coordination() == null || !config.budget().limited()) {
      return;
    }
    dev.moaa.transforms.client.ModelEndpoint any = config.models().values().iterator().next();
    try (dev.moaa.transforms.limits.Coordinator c = any.budgetCoordination().open()) {
      c.reopenBudget(stoppedAt[0] / 1e6, stoppedAt[1]);
    } catch (RuntimeException e) {
      throw new IllegalStateException("the coordination store cannot be reached to open the budget: "
          + e.getMessage());
    }
  }

  /**
   * Says what the folder spent before this launch, and what is left of the budget; true when an
   * earlier launch was stopped by a budget not lower than this one (nothing will be sent).
   */
  private static boolean sayBudgetSoFar(MoaaConfig config, dev.moaa.transforms.budget.CallLedger.Summary ledger,
      PrintStream out) {
    dev.moaa.transforms.budget.CallLedger.Totals before = ledger.before(config.budget().launch());
    boolean spent = ledger.closedAtOrAbove(config.budget().maxCostUsd(), config.budget().maxTokens());
    if (before.requests() == 0 && !spent) {
      return false;
    }
    String left = "";
    if (config.budget().maxCostUsd() > 0) {
      double l = config.budget().maxCostUsd() - before.costUsd() - before.inDoubtWorstUsd();
      left = String.format(Locale.ROOT, "; left of the budget's $%.4f: $%.4f", config.budget().maxCostUsd(),
          Math.max(0, l));
    }
    if (spent) {
      left += " (the budget stopped an earlier launch at this limit and was not raised since: nothing will be"
          + " sent; raise budget.max_cost_usd or budget.max_tokens to go on)";
    }
    out.printf(Locale.ROOT, "  this folder's earlier launches sent %d request(s) costing $%.4f%s%s%n",
        before.requests(), before.costUsd(),
        before.inDoubt() > 0 ? String.format(Locale.ROOT, " (%d in doubt, at most $%.4f more)", before.inDoubt(),
            before.inDoubtWorstUsd()) : "", left);
    return spent;
  }


  /** Checks that the coordination store answers before anything is sent (a run never goes on without it). */
  static void checkCoordination(MoaaConfig config) {
    if (config.coordination() == null) {
      return;
    }
    try (Coordinator c = config.coordination().open()) {
      c.holdRemainingMs("probe");
    } catch (CoordinationException e) {
      throw new IllegalArgumentException("coordination: " + e.getMessage());
    }
  }

  /**
   * Which limits are in force: shared through the coordination store, or per JVM; on a Flink run
   * with several workers and no coordination, a warning that limits and budget multiply.
   */
  static List<String> coordinationLines(MoaaConfig config, RunTarget target) {
    List<String> lines = new java.util.ArrayList<>();
    Coordination c = config.coordination();
    if (c != null) {
      lines.add("coordination: limits (max_concurrency, requests/tokens per minute, Retry-After, adaptive"
          + " concurrency) shared by every worker and every run naming key '" + c.key() + "' in " + c.location()
          + " (leases " + c.leaseTtlMs() + " ms); budget ledger "
          + (config.shareBudget() ? "shared by every run naming the key" : "of this run"));
      return lines;
    }
    lines.add("coordination: none: max_concurrency, rates and the budget hold per JVM");
    String master = target.flinkMaster();
    boolean remote = !target.direct() && master != null && !master.isBlank() && !master.startsWith("[");
    if (!target.direct() && (target.parallelism() > 1 || remote)) {
      lines.add("WARNING: this " + target.runner() + " run has "
          + (target.parallelism() > 1 ? "parallelism " + target.parallelism() : "a cluster master")
          + " and no coordination: limits and budget are per worker (each TaskManager gets max_concurrency and"
          + " the whole budget); set coordination: {backend: redis, url: ...} to share them");
    }
    return lines;
  }

  /** What the preflight found, and how long it took. */
  private record Probes(List<Preflight.Result> results, long nanos) {}

  /** Probes every model of the run once (see {@link Preflight}). */
  private static List<Preflight.Result> probe(RunKind kind, MoaaConfig config) {
    List<ModelEndpoint> models = new ArrayList<>();
    for (String name : kind.modelRoles(config).keySet()) {
      ModelEndpoint m = config.models().get(name);
      if (m != null) {
        models.add(m);
      }
    }
    return Preflight.check(models, config.cache());
  }

  /**
   * A folder whose run finished (its manifest says so, for this config) but whose report or dataset
   * card is missing, because the process was killed after the manifest was written: writes them
   * from the manifest and returns the run's outcome; null for any other folder.
   */
  public static Outcome finishReports(RunKind kind, MoaaConfig config, StoragePath output, RunDocuments documents,
      PrintStream out, PrintStream err) {
    StoragePath manifestFile = output.resolve("manifest.json");
    StoragePath started = output.resolve(STARTED_FILE);
    ObjectNode manifest;
    boolean cardMissing;
    boolean reportMissing;
    try {
      if (!manifestFile.isFile() || !started.isFile()) {
        return null;
      }
      com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
      if (!config.hash().equals(json.readTree(started.readString()).path("config_hash").asText())) {
        return null;
      }
      com.fasterxml.jackson.databind.JsonNode m = json.readTree(manifestFile.readString());
      if (!(m instanceof ObjectNode node) || !"DONE".equals(m.path("state").asText())
          || !kind.command().equals(m.path("command").asText())) {
        return null;
      }
      manifest = node;
      cardMissing = !output.resolve(RunFiles.CARD).exists() && !output.resolve(RunFiles.CARD_FALLBACK).exists();
      reportMissing = !output.resolve(RunFiles.REPORT).exists();
    } catch (IOException e) {
      return null;
    }
    if (!cardMissing && !reportMissing) {
      return null;
    }
    String name = "moaa " + kind.command();
    out.println(name + ": the run in " + output + " had finished; writing its missing "
        + (cardMissing && reportMissing ? "dataset card and report" : cardMissing ? "dataset card" : "report")
        + " from its manifest");
    if (cardMissing) {
      StoragePath card = writeCard(kind, config, manifest, output, documents, err);
      if (card != null) {
        out.println("  dataset card: " + card);
      }
    }
    if (reportMissing) {
      try {
        out.println("  report:       " + documents.report(output, kind, manifest, config));
      } catch (IOException | RuntimeException e) {
        err.println(name + ": could not write the run report: " + e);
        return new Outcome(ExitCodes.FAILED, null, localOrNull(output), manifest);
      }
    }
    com.fasterxml.jackson.databind.JsonNode c = manifest.path("counts");
    Map<String, Long> reasons = new java.util.TreeMap<>();
    c.path("dead_letter_reasons").fields().forEachRemaining(e -> reasons.put(e.getKey(), e.getValue().asLong()));
    RunManifest.Counts counts = new RunManifest.Counts(c.path("read").asLong(), c.path("written").asLong(),
        c.path("dead_lettered").asLong(), c.path("dropped").asLong(), reasons);
    out.println("  " + counts.line());
    return new Outcome(manifest.path("exit_code").asInt(ExitCodes.OK), counts, localOrNull(output), manifest);
  }

  /**
   * Loads the HTTP client and the TLS context on a spare thread while this one parses the options
   * and builds the graph (one core's work): otherwise the first model-calling step pays for it
   * just before the first call. A failure only means it is done later, where it is needed.
   */
  private static void warmUpClientsAside() {
    Thread t = new Thread(() -> {
      try {
        dev.moaa.transforms.client.OpenAiChatClient.warmUp();
      } catch (RuntimeException | LinkageError ignored) {
        // the client is built when it is needed
      }
    }, "moaa-client-warm-up");
    t.setDaemon(true);
    t.start();
  }

  private static Outcome runPipeline(RunKind kind, RunRequest request, PipelineOptions options, RunTarget target,
      RunDocuments documents, CompletableFuture<Probes> probes, RunFolder.Lease lease, PrintStream out,
      PrintStream err) {
    MoaaConfig config = request.config();
    RunSpec spec = request.spec();
    String name = "moaa " + kind.command();
    String title = "MoAA " + kind.command().toUpperCase(Locale.ROOT);
    StoragePath output = StoragePath.of(spec.output());
    String runner = target.runner();
    kind.describe(config, spec, out);
    out.println("  runner " + runner + ", output " + output);
    out.println("  response cache: " + config.cache() + "; " + config.budget());
    coordinationLines(config, target).forEach(l -> out.println("  " + l));
    Instant started = Instant.now();
    dev.moaa.transforms.client.BatchChatClient.Stats batchesBefore = dev.moaa.transforms.client.BatchChatClient.stats();
    Pipeline p = Pipeline.create(options);
    kind.build(p, config, spec);
    Probes found = probes.join();
    List<Preflight.Result> preflight = found.results();
    if (!preflight.isEmpty()) {
      long ok = preflight.stream().filter(Preflight.Result::ok).count();
      out.printf(Locale.ROOT, "  preflight: %d of %d endpoint(s) answered in %.1f s%n", ok, preflight.size(),
          found.nanos() / 1e9);
      if (ok < preflight.size()) {
        err.println(name + ": the preflight found a model that cannot be used; nothing was processed:");
        preflight.stream().filter(r -> !r.ok()).forEach(r -> err.println("  " + r.describe()));
        err.println("  (--preflight=false skips this check)");
        if (lease != null) {
          dev.moaa.transforms.budget.CallLedger.Totals probed = lease.closeLeavingNothing();
          if (probed != null && probed.requests() > 0) {
            // the folder is not kept for a run that processed nothing: what its probes cost is said here
            err.printf(Locale.ROOT, "  the preflight sent %d request(s), %d answered, estimated cost $%.6f%n",
                probed.requests(), probed.answered(), probed.costUsd());
          }
        }
        return new Outcome(ExitCodes.USAGE, null, null, null);
      }
    }
    try {
      prepareOutput(output, request.overwrite(), kind.shardDir(), config.hash(), out);
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println(name + ": " + e.getMessage());
      return new Outcome(ExitCodes.USAGE, null, null, null);
    }
    PipelineResult result;
    PipelineResult.State state;
    boolean direct = target.direct();
    boolean embedded = target.embeddedFlink();
    boolean progress = request.progressSeconds() > 0 && (direct || embedded) && !request.submitOnly();
    if (progress) {
      out.println("  progress every " + request.progressSeconds() + " s (--progressSeconds=0 turns it off)");
    }
    ObjectNode preflightNode = RunManifest.preflightSection(preflight, config);
    ProgressReporter reporter = null;
    RunWarmUp warmUp = null;
    String jobId = null;
    try {
      if (progress) {
        // a runner in this JVM: the line reads this JVM's own sums of the run's counters, as calls
        // end (Flink's mini-cluster runs the job inside p.run(), which returns at its end; the
        // DirectRunner's metrics move only when a bundle commits, and a chain step's bundle lasts
        // until its last chain: its lines said "calls 0" with 160 in flight ten seconds in)
        reporter = ProgressReporter.startInThisJvm(config.models(), out, request.progressSeconds(),
            kind.callsPerRow(config));
      }
      // on the DirectRunner not blocking: a blocking p.run() would hand back its result only at
      // the end, too late to report progress or to pace the runner's scheduling loop
      result = DirectMonitorPacing.run(p);
      if (request.submitOnly()) {
        return submitted(kind, request, target, options.getJobName(), result, started, preflightNode, out, err);
      }
      jobId = direct || embedded ? null : flinkJobId(result);
      java.util.Optional<String> rest = JobEnd.flinkRestAddress(target.flinkMaster());
      if (request.progressSeconds() > 0 && jobId != null && rest.isPresent()) {
        out.println("  progress every " + request.progressSeconds() + " s, from the job's metrics on the cluster"
            + " (--progressSeconds=0 turns it off)");
        reporter = ProgressReporter.startForCluster(new ClusterCounters(rest.get(), jobId), config.models(), out,
            request.progressSeconds(), kind.callsPerRow(config),
            java.time.Duration.between(started, Instant.now()).toMillis() / 1000.0);
      }
      warmUp = RunWarmUp.start(p, kind.shardSchema(), config.models().values(), direct, documents);

      Thread cancelOnExit = null;
      if (jobId != null && rest.isPresent()) {
        // a job this run waits for is this run's: Ctrl-C or SIGTERM of the run cancels it on the
        // cluster (left running, a rerun of the folder would pay for a second job writing the same shards)
        if (lease != null) {
          lease.recordJob(jobId, target.flinkMaster());
        }
        String id = jobId;
        cancelOnExit = new Thread(() -> {
          String ended = JobEnd.cancel(target.flinkMaster(), id, 8_000);
          err.println(name + ": stopped: the Flink job " + id + " on " + rest.get() + " was cancelled (" + ended + ")");
          err.flush();
          closeQuietly(lease);
        }, "moaa-cancel-on-exit");
        Runtime.getRuntime().addShutdownHook(cancelOnExit);
      }
      try {
        state = JobEnd.await(result, direct);
      } finally {
        if (cancelOnExit != null) {
          try {
            Runtime.getRuntime().removeShutdownHook(cancelOnExit);
          } catch (IllegalStateException shuttingDown) {
            // the JVM is ending: the hook runs
          }
        }
      }
      if (!direct) {
        // the job's counters are read next, from the REST API's cached view of the job: wait
        // until that view has the job's end (a web UI open on the job keeps an older one cached)
        JobEnd.awaitFinalView(target.flinkMaster(), jobId);
      }
      if (state == PipelineResult.State.FAILED && !direct) {
        // a detached Flink job reports only its state: its cause is on the JobManager
        String cause = JobEnd.flinkFailure(target.flinkMaster(), options.getJobName())
            .orElse("see the JobManager's log or web UI (job " + options.getJobName() + ")");
        err.println(name + ": the pipeline failed: " + cause);
      }
    } catch (RuntimeException e) {
      err.println(name + ": the pipeline failed: " + rootMessage(e));
      return new Outcome(ExitCodes.FAILED, null, localOrNull(output), null);
    } finally {
      if (reporter != null) {
        reporter.close();
      }
      if (warmUp != null) {
        warmUp.close();
      }
    }
    return complete(kind, request, runner, result, state, started, Instant.now(), preflightNode, batchesBefore,
        direct ? 0 : JobEnd.flinkRestarts(target.flinkMaster(), jobId, state == PipelineResult.State.FAILED), documents,
        out, err);
  }

  /**
   * The end of a run whose job ended in {@code state}: reads the counts the job wrote, sums the
   * per-model usage from {@code result}'s metrics, writes the manifest, the dataset card and the
   * report, prints the reconciliation and returns the exit code. Called by the run itself, and by
   * {@code moaa finish} for a job that was only submitted ({@link #SUBMITTED_FILE}), with the
   * metrics it read from the cluster.
   *
   * @param preflight the manifest's {@code preflight} section, as the run that sent the probes wrote it
   * @param batchesBefore the batch client's counts before the run, or null where this process sent no batch
   * @param restarts how often the job restarted on its cluster (its failed attempts' calls are not
   *     in its counters), 0 for none or where the runner does not restart jobs
   */
  public static Outcome complete(RunKind kind, RunRequest request, String runner, PipelineResult result,
      PipelineResult.State state, Instant started, Instant finished, com.fasterxml.jackson.databind.JsonNode preflight,
      dev.moaa.transforms.client.BatchChatClient.Stats batchesBefore, int restarts, RunDocuments documents,
      PrintStream out, PrintStream err) {
    MoaaConfig config = request.config();
    RunSpec spec = request.spec();
    String name = "moaa " + kind.command();
    String title = "MoAA " + kind.command().toUpperCase(Locale.ROOT);
    StoragePath output = StoragePath.of(spec.output());
    output.removeEmptyTempFolders();
    output.resolve(kind.shardDir()).removeEmptyTempFolders();
    try {
      RunManifest.Counts counts = RunManifest.readCounts(output);
      Map<String, RunManifest.ModelUsage> usage = RunManifest.usage(result);
      long budgetStopped = counts.reasons().getOrDefault(dev.moaa.transforms.moa.DeadLetters.BUDGET, 0L);
      // the folder's call ledger, read once: the paid figures, and the answers the cache could not take
      boolean ledgered = config.budget().ledgerDir() != null;
      dev.moaa.transforms.budget.CallLedger.Summary ledger = ledgered
          ? dev.moaa.transforms.budget.CallLedger.read(Paths.get(config.budget().ledgerDir())) : null;
      List<String> problems = new java.util.ArrayList<>(RunHealth.problems(config, counts, usage));
      long uncoordinated = counts.reasons().getOrDefault(dev.moaa.transforms.moa.DeadLetters.COORDINATION, 0L);
      if (uncoordinated > 0) {
        problems.add(uncoordinated + " row(s) were not processed because the coordination store could not be reached"
            + " (dead letters with reason '" + dev.moaa.transforms.moa.DeadLetters.COORDINATION + "'): run the same"
            + " command again once it answers; answers already received come from the cache");
      }
      long unstored = ledger == null ? 0 : ledger.unstored(config.budget().launch());
      if (unstored > 0) {
        problems.add(unstored + " paid answer(s) could not be stored in the response cache " + config.cache() + ": they"
            + " are kept beside the call ledger, and the same command puts them into the cache and goes on");
      }
      boolean ok = state == PipelineResult.State.DONE && counts.reconciles();
      int exit = !ok ? ExitCodes.FAILED : budgetStopped > 0 ? ExitCodes.BUDGET_STOPPED
          : !problems.isEmpty() ? ExitCodes.UNHEALTHY : ExitCodes.OK;
      String status = !ok ? String.valueOf(state == PipelineResult.State.DONE ? "DONE, NOT RECONCILED" : state)
          : exit == ExitCodes.BUDGET_STOPPED ? "STOPPED BY THE BUDGET"
          : exit == ExitCodes.UNHEALTHY ? "FINISHED WITH FAILURES" : "DONE";
      ObjectNode manifest = RunManifest.build(kind, config, spec, runner, state, counts, usage, started, finished, output);
      RunManifest.addCoordination(manifest, config, result);
      RunManifest.addPreflight(manifest, preflight);
      if (ledgered) {
        RunManifest.addLedger(manifest, config, ledger, config.budget().ledgerDir());
      }
      if (batchesBefore != null && config.models().values().stream().anyMatch(m -> m.batch() != null)) {
        // the batch models' batches, as this process saw them (a resumed run counts those it found again)
        dev.moaa.transforms.client.BatchChatClient.Stats b = dev.moaa.transforms.client.BatchChatClient.stats()
            .since(batchesBefore);
        ObjectNode n = manifest.putObject("batches");
        n.put("submitted", b.submitted());
        n.put("found_from_an_earlier_run", b.resumed());
        n.put("done", b.done());
      }
      manifest.put("status", status);
      if (restarts > 0) {
        // Flink keeps the counters of the attempt that finished; the ledger has every attempt's requests
        manifest.put("restarts", restarts);
        manifest.put("usage_includes_failed_attempts", ledgered);
      }
      manifest.put("exit_code", exit);
      if (unstored > 0) {
        manifest.put("cache_store_failures", unstored);
      }
      if (!problems.isEmpty()) {
        manifest.putPOJO("problems", problems);
        // a rerun of the same command resumes it: the rows that failed are tried again
        manifest.put("complete", false);
      }
      RunManifest.write(manifest, output.resolve("manifest.json"));
      StoragePath card = writeCard(kind, config, manifest, output, documents, err);
      String report;
      try {
        report = documents.report(output, kind, manifest, config).toString();
      } catch (IOException | RuntimeException | LinkageError | InternalError e) {
        // The data and the manifest are written; a report that cannot be drawn must not fail the run.
        report = "not written (" + e + ")";
        err.println(name + ": could not write the run report: " + e);
      }
      double wall = (finished.toEpochMilli() - started.toEpochMilli()) / 1000.0;
      out.printf(Locale.ROOT, "%s %s in %.1f s%n", title, status, wall);
      out.println("  " + counts.line());
      if (!counts.reasons().isEmpty()) {
        out.println("  dead letters by reason: " + counts.reasons());
      }
      usage.forEach((m, u) -> out.printf(Locale.ROOT,
          "  model %-16s calls %6d  cached %6d  requests %6d  failed %4d  retries %5d (429: %5d)  tokens in %9d out %9d%s%n",
          m, u.calls(), u.cacheHits(), u.requests(), u.failures(), u.retries(), u.rateLimited(), u.promptTokens(),
          u.completionTokens(), u.usageEstimated() > 0 ? "  (" + u.usageEstimated() + " call(s) without usage: estimated)" : ""));
      out.printf(Locale.ROOT, "  estimated cost of this run's paid calls: $%.4f%n",
          manifest.path("totals").path("estimated_cost_usd").asDouble());
      if (budgetStopped > 0) {
        out.println("  the budget (" + config.budget() + ") stopped " + budgetStopped + " conversation(s): they are"
            + " dead letters with reason 'budget'; raise the budget and run the same command again to finish"
            + " them (answers already received come from the cache)");
      }
      problems.forEach(pr -> err.println(name + ": " + pr));
      if (restarts > 0 && ledgered) {
        out.println("  the Flink job restarted " + restarts + " time(s): the paid requests, tokens and cost above are"
            + " every attempt's, from the call ledger" + (manifest.path("totals").path("paid_calls_in_doubt").asLong() > 0
            ? " (" + manifest.path("totals").path("paid_calls_in_doubt").asLong() + " sent by a lost worker and possibly"
            + " billed: in doubt)" : ""));
      } else if (restarts > 0) {
        err.println(name + ": WARNING: the Flink job restarted " + restarts + " time(s) (a lost TaskManager or a failed"
            + " task): the calls, tokens and cost above are those of the attempt that finished; the calls its failed"
            + " attempts made were sent, and paid for, but are not in them (the endpoint's or provider's own usage"
            + " has them; a response cache or checkpoints make a restart repeat fewer calls)");
      }
      out.println("  " + kind.command().toUpperCase(Locale.ROOT) + " shards:   " + output.resolve(kind.shardDir()).resolve("parquet")
          + " (Parquet), " + output.resolve(kind.shardDir()).resolve("avro") + " (Avro)");
      out.println("  dead letters: " + output.resolve(SftPipeline.DEAD_LETTER_DIR));
      out.println("  manifest:     " + output.resolve("manifest.json"));
      if (card != null) {
        out.println("  dataset card: " + card);
      }
      out.println("  report:       " + report);
      if (!counts.reconciles()) {
        err.println(name + ": the counts do not reconcile: " + counts.line());
      }
      out.println("  exit code " + exit + " (" + ExitCodes.meaning(exit) + ")");
      return new Outcome(exit, counts, localOrNull(output), manifest);
    } catch (IOException e) {
      err.println(name + ": cannot write the manifest: " + e.getMessage());
      return new Outcome(ExitCodes.FAILED, null, localOrNull(output), null);
    }
  }

  /** The file a run that only submitted its job leaves for {@code moaa finish} ({@link Submitted}). */
  public static final String SUBMITTED_FILE = "_run/submitted.json";

  private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

  /**
   * What {@code moaa finish} needs of a run that handed its job to a Flink cluster and returned:
   * the command, the job's name (and id where the runner gave it), when the run started, the
   * config's hash (the finishing command must read the same config), the spec, where the job runs,
   * and the preflight section of the manifest.
   */
  public record Submitted(String command, String jobName, String jobId, Instant started, Instant submitted,
      String configHash, RunSpec spec, String runner, String flinkMaster, com.fasterxml.jackson.databind.JsonNode preflight,
      String launch) {

    /** Reads {@value #SUBMITTED_FILE} of {@code output}; empty when there is none. */
    public static java.util.Optional<Submitted> read(StoragePath output) throws IOException {
      StoragePath f = output.resolve(SUBMITTED_FILE);
      if (!f.isFile()) {
        return java.util.Optional.empty();
      }
      com.fasterxml.jackson.databind.JsonNode n = JSON.readTree(f.readString());
      com.fasterxml.jackson.databind.JsonNode sp = n.path("spec");
      List<String> inputs = new ArrayList<>();
      sp.path("inputs").forEach(i -> inputs.add(i.asText()));
      RunSpec spec = new RunSpec(inputs, sp.path("output").asText(),
          dev.moaa.transforms.input.InputFormat.parse(sp.path("format").asText()), sp.path("shards").asInt());
      return java.util.Optional.of(new Submitted(n.path("command").asText(), n.path("job_name").asText(),
          n.hasNonNull("job_id") ? n.path("job_id").asText() : null, Instant.parse(n.path("started_at").asText()),
          Instant.parse(n.path("submitted_at").asText()), n.path("config_hash").asText(), spec,
          n.path("runner").asText(), n.path("flink_master").asText(null), n.path("preflight"),
          n.path("launch").asText(null)));
    }

    ObjectNode toJson() {
      ObjectNode n = JSON.createObjectNode();
      n.put("command", command);
      n.put("job_name", jobName);
      n.put("job_id", jobId);
      n.put("started_at", started.toString());
      n.put("submitted_at", submitted.toString());
      n.put("config_hash", configHash);
      ObjectNode sp = n.putObject("spec");
      spec.inputs().forEach(sp.putArray("inputs")::add);
      sp.put("output", spec.output());
      sp.put("format", spec.format().wireName());
      sp.put("shards", spec.shards());
      n.put("runner", runner);
      n.put("flink_master", flinkMaster);
      n.set("preflight", preflight);
      n.put("launch", launch);
      return n;
    }
  }

  /**
   * A run asked only to submit its job ({@link RunRequest#submitOnly()}): the job now runs on the
   * cluster without this process; {@value #SUBMITTED_FILE} says which job it is, for {@code moaa finish}.
   */
  private static Outcome submitted(RunKind kind, RunRequest request, RunTarget target, String jobName,
      PipelineResult result, Instant started, ObjectNode preflight, PrintStream out, PrintStream err) {
    String name = "moaa " + kind.command();
    StoragePath output = StoragePath.of(request.spec().output());
    String jobId = flinkJobId(result);
    Submitted s = new Submitted(kind.command(), jobName, jobId, started, Instant.now(), request.config().hash(),
        request.spec(), target.runner(), target.flinkMaster(), preflight, request.config().budget().launch());
    try {
      output.resolve(SUBMITTED_FILE).writeString(s.toJson().toPrettyString() + "\n");
    } catch (IOException e) {
      // the job runs anyway; without the file, moaa finish cannot tell which job is this folder's
      err.println(name + ": the job " + jobName + " was submitted, but " + output.resolve(SUBMITTED_FILE)
          + " cannot be written: " + e.getMessage());
      return new Outcome(ExitCodes.FAILED, null, localOrNull(output), null);
    }
    out.println(name + ": submitted Flink job " + jobName + (jobId == null ? "" : " (" + jobId + ")")
        + "; it runs on the cluster without this process");
    String master = JobEnd.flinkRestAddress(target.flinkMaster()).orElse("HOST:PORT");
    out.println("  moaa finish --config=FILE --output=" + output + " --flinkMaster=" + master + " waits for it,"
        + " reconciles it and writes the manifest, the dataset card and the report");
    return new Outcome(ExitCodes.OK, null, localOrNull(output), null);
  }

  /**
   * The Flink job id of a job Beam's Flink runner submitted detached, read from its result's job
   * client (Beam keeps it private); null when the result has none.
   */
  static String flinkJobId(PipelineResult result) {
    try {
      java.lang.reflect.Field f = result.getClass().getDeclaredField("jobClient");
      f.setAccessible(true);
      Object client = f.get(result);
      return client == null ? null : String.valueOf(client.getClass().getMethod("getJobID").invoke(client));
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  private static Path localOrNull(StoragePath output) {
    return output.isLocal() ? output.localPath() : null;
  }

  /**
   * Writes the Hugging Face dataset card beside the shards. A card that cannot be written does not
   * undo a finished run: it is reported, and the shards and manifest stay.
   */
  private static StoragePath writeCard(RunKind kind, MoaaConfig config, ObjectNode manifest, StoragePath output,
      RunDocuments documents, PrintStream err) {
    try {
      return documents.card(kind, config, manifest, output);
    } catch (IOException | RuntimeException e) {
      err.println("moaa " + kind.command() + ": cannot write the dataset card: " + e.getMessage());
      return null;
    }
  }

  static void checkInputs(List<String> patterns) {
    if (patterns.isEmpty()) {
      throw new IllegalArgumentException("--input names no file");
    }
    for (String pattern : patterns) {
      try {
        MatchResult m = FileSystems.match(pattern, EmptyMatchTreatment.ALLOW);
        if (m.status() != MatchResult.Status.OK || m.metadata().isEmpty()) {
          throw new IllegalArgumentException("--input " + pattern + " matches no file");
        }
      } catch (IOException e) {
        throw new IllegalArgumentException("--input " + pattern + ": " + e.getMessage());
      } catch (IllegalArgumentException e) {
        throw e; // "matches no file", above: already the whole message
      } catch (RuntimeException e) {
        // an object store's client fails with unchecked exceptions (no credentials, no such bucket)
        throw new IllegalArgumentException("--input " + pattern + ": cannot list it: " + rootCause(e));
      }
    }
  }

  /** Opens the configured cache once, so that an unreachable Redis is a clear error before the run. */
  public static void checkCache(CacheSpec cache) {
    if (!cache.enabled()) {
      return;
    }
    try (ResponseCache c = ResponseCache.open(cache)) {
      c.size();
    } catch (CacheException e) {
      throw new IllegalArgumentException("response cache: " + e.getMessage());
    }
  }

  /**
   * Refuses to mix two runs in one folder unless --overwrite, which removes this product's outputs
   * only; a folder whose run of the same config did not complete is resumed without asking.
   */
  public static void prepareOutput(StoragePath output, boolean overwrite, String shardDir, String configHash,
      PrintStream out) {
    List<String> ours = ourOutputs(shardDir);
    boolean hasResults = hasResults(output, shardDir);
    String unfinished = checkOutput(output, overwrite, shardDir, configHash);
    if (unfinished != null) {
      out.println("resuming the " + unfinished + " run in " + output
          + ": its partial outputs are replaced; answers it received come from the response cache");
    }
    if (hasResults) {
      try {
        for (String n : ours) {
          output.resolve(n).deleteRecursively();
        }
        for (String card : List.of(RunFiles.CARD, RunFiles.CARD_FALLBACK)) {
          if (RunFiles.isOurCard(output.resolve(card))) {
            output.resolve(card).deleteRecursively();
          }
        }
      } catch (IOException e) {
        throw new IllegalStateException("cannot clear " + output + ": " + e.getMessage());
      }
    }
    try {
      output.resolve("_run").createFolders();
      // written only when there is a row to write: present, if empty, on a local run without any
      // (in object storage a folder is a key prefix: none without an object under it)
      output.resolve(SftPipeline.DEAD_LETTER_DIR).createFolders();
      output.resolve(SftPipeline.DROPPED_DIR).createFolders();
      ObjectNode started = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
      started.put("config_hash", configHash);
      started.put("started_at", Instant.now().toString());
      output.resolve(STARTED_FILE).writeString(started.toString() + "\n");
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot write to the output folder " + output + ": " + e.getMessage());
    }
  }

  /** True when the folder holds an output of this product (an unreadable folder is a usage error). */
  private static boolean hasResults(StoragePath output, String shardDir) {
    try {
      for (String n : ourOutputs(shardDir)) {
        if (output.resolve(n).exists()) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read the output folder " + output + ": " + e.getMessage());
    }
  }

  private static List<String> ourOutputs(String shardDir) {
    return List.of(shardDir, SftPipeline.DEAD_LETTER_DIR, SftPipeline.DROPPED_DIR, "_run", "manifest.json",
        RunFiles.REPORT);
  }

  /**
   * Throws when the folder holds results that may not be replaced; returns "unfinished" or
   * "budget-stopped" when it holds a run of this config to resume, else null. Changes nothing.
   */
  static String checkOutput(StoragePath output, boolean overwrite, String shardDir, String configHash) {
    if (!output.isLocal()) {
      checkBucket(output);
    }
    boolean hasResults = hasResults(output, shardDir);
    if (!hasResults || overwrite) {
      return null;
    }
    String unfinished = unfinishedRun(output, configHash);
    if (unfinished == null) {
      throw new IllegalArgumentException("output folder " + output
          + " already holds results of a run; choose another folder or pass --overwrite=true");
    }
    return unfinished;
  }

  /** The file a run writes before it starts: which config it runs, so a rerun can tell it may resume. */
  static final String STARTED_FILE = "_run/started.json";

  /**
   * "unfinished" or "budget-stopped" when the folder holds a run of the same config that did not
   * complete; null when it completed, ran another config, or cannot be told.
   */
  private static String unfinishedRun(StoragePath output, String configHash) {
    try {
      com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
      StoragePath started = output.resolve(STARTED_FILE);
      if (!started.isFile()
          || !configHash.equals(json.readTree(started.readString()).path("config_hash").asText())) {
        return null;
      }
      StoragePath manifest = output.resolve("manifest.json");
      if (!manifest.isFile()) {
        return "unfinished";
      }
      com.fasterxml.jackson.databind.JsonNode m = json.readTree(manifest.readString());
      if (m.path("complete").asBoolean(true)) {
        return null;
      }
      return m.path("budget").path("stopped_conversations").asLong() > 0 ? "budget-stopped" : "unfinished";
    } catch (IOException e) {
      return null;
    }
  }

  /**
   * Checks, before anything is built, that an output in object storage can be reached: its bucket
   * exists and the credentials are accepted (listing the folder needs both). A run never learns at
   * its end that its results cannot be written.
   */
  static void checkBucket(StoragePath output) {
    try {
      output.exists();
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot use the output folder " + output + ": " + e.getMessage());
    }
  }

  /** Deletes a file or a folder with everything in it; nothing when it does not exist. */
  public static void deleteRecursively(Path p) {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(p)) {
      for (Path x : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(x);
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot clear " + p + ": " + e.getMessage());
    }
  }

  private static String rootCause(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage();
  }

  private static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    return c.getClass().getSimpleName() + ": " + c.getMessage();
  }

}
