package dev.moaa.pipelines;

import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.dpo.DpoTopology;
import dev.moaa.transforms.dpo.JudgeMode;
import dev.moaa.transforms.io.ChannelInputFile;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.parquet.hadoop.ParquetFileReader;

/**
 * What a DPO run will cost, estimated before any call: input rows are counted (JSONL lines, Parquet
 * footers), and token counts are assumed from the rows' average size and the models' max_tokens.
 * An upper-bound estimate for planning, not a bill: duplicates, bad rows and identical candidates
 * only make the real run cheaper.
 */
public record DpoPlan(long prompts, double avgPromptTokens, long policyCalls, long judgeCalls, double estimatedCostUsd,
    String text) {

  /** Tokens the judge templates add to a call, and what judges write back. */
  private static final int TEMPLATE_TOKENS = 350;
  private static final int EVALUATION_TOKENS = 200;

  public String describe() {
    return text;
  }

  public static DpoPlan estimate(MoaaConfig config, List<String> inputs) {
    long rows = 0;
    long chars = 0;
    long sampled = 0;
    for (String pattern : inputs) {
      try {
        MatchResult m = FileSystems.match(pattern, EmptyMatchTreatment.ALLOW);
        for (MatchResult.Metadata md : m.metadata()) {
          String name = md.resourceId().toString();
          if (name.endsWith(".parquet")) {
            try (SeekableByteChannel ch = (SeekableByteChannel) FileSystems.open(md.resourceId());
                ParquetFileReader r = ParquetFileReader.open(new ChannelInputFile(ch))) {
              rows += r.getRecordCount();
            }
            continue;
          }
          try (BufferedReader in = new BufferedReader(Channels.newReader(
              Compression.detect(name).readDecompressed(FileSystems.open(md.resourceId())), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
              if (!line.isBlank()) {
                rows++;
                if (sampled < 5000) {
                  sampled++;
                  chars += Math.min(line.length(), 200_000);
                }
              }
            }
          }
        }
      } catch (IOException | RuntimeException e) {
        // the estimate is best effort; the run itself reports unreadable inputs
      }
    }
    DpoTopology t = config.dpo();
    double promptTokens = sampled == 0 ? 200 : chars / 4.0 / sampled;
    double answerTokens = t.policy().completionLimit() == null ? 400 : t.policy().completionLimit() / 2.0;
    long pairsOrdered = (long) t.k() * (t.k() - 1);
    long policyCalls = t.useN() ? rows : rows * t.k();
    long judgeCalls = rows * t.judgeCallsPerPrompt();
    double cost = cost(t.policy(), policyCalls, promptTokens, answerTokens * (t.useN() ? t.k() : 1));
    double judgeIn = TEMPLATE_TOKENS + promptTokens + 2 * answerTokens;
    for (ModelEndpoint j : t.judges()) {
      cost += cost(j, rows * pairsOrdered, judgeIn, EVALUATION_TOKENS);
    }
    if (t.mode() == JudgeMode.MOA) {
      cost += cost(t.lead(), rows * pairsOrdered, judgeIn + t.judges().size() * EVALUATION_TOKENS, EVALUATION_TOKENS);
    }
    if (t.criteriaEnabled()) {
      cost += cost(t.criteriaModel(), rows, TEMPLATE_TOKENS + promptTokens, 60);
    }
    // The upper bound: every judgment needs its repair request, a server that ignores n is asked
    // once per candidate, and every answer is as long as its limit allows.
    long repairs = rows * pairsOrdered * ((long) t.judges().size() + (t.mode() == JudgeMode.MOA ? 1 : 0));
    long maxPolicyRequests = rows * t.k();
    long maxRequests = maxPolicyRequests + judgeCalls + repairs;
    double longest = t.policy().completionLimit() == null ? 2 * answerTokens : t.policy().completionLimit();
    double worst = cost(t.policy(), maxPolicyRequests, promptTokens, longest);
    double judgeInWorst = TEMPLATE_TOKENS + promptTokens + 2 * longest;
    for (ModelEndpoint j : t.judges()) {
      worst += 2 * cost(j, rows * pairsOrdered, judgeInWorst, EVALUATION_TOKENS);
    }
    if (t.mode() == JudgeMode.MOA) {
      worst += 2 * cost(t.lead(), rows * pairsOrdered, judgeInWorst + t.judges().size() * EVALUATION_TOKENS,
          EVALUATION_TOKENS);
    }
    if (t.criteriaEnabled()) {
      worst += cost(t.criteriaModel(), rows, TEMPLATE_TOKENS + promptTokens, 60);
    }
    String text = String.format(Locale.ROOT,
        "%s%n  plan (estimate, before any call): %d input rows -> %d policy calls; %d judge calls "
            + "(%d ordered pairs x %d calls%s per prompt); estimated cost $%.4f "
            + "(assuming prompts of ~%.0f tokens and answers of ~%.0f tokens)%n"
            + "  at most %d requests (%d policy requests if the server ignores n, %d repair requests if every"
            + " judgment needs one), at most about $%.4f",
        DpoPipeline.describeLine(t), rows, policyCalls, judgeCalls, pairsOrdered, t.callsPerJudgment(),
        t.criteriaEnabled() ? " + 1 criteria call" : "", cost, promptTokens, answerTokens,
        maxRequests, maxPolicyRequests, repairs, worst);
    return new DpoPlan(rows, promptTokens, policyCalls, judgeCalls, cost, text);
  }

  private static double cost(ModelEndpoint m, long calls, double in, double out) {
    return calls * m.priceFactor() * (in * m.inputPricePerMillion() + out * m.outputPricePerMillion()) / 1e6;
  }
}
