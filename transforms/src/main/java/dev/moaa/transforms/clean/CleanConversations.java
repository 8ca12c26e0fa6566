package dev.moaa.transforms.clean;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.Dropped;
import dev.moaa.transforms.io.KeptAndDropped;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.CoderException;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.ListCoder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.util.CoderUtils;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Removes, before any model is called, the conversations a training set should not hold. Input:
 * conversations with distinct ids. Output: the conversations kept, and one {@link Dropped} row per
 * conversation removed, with its reason and what it matched:
 *
 * <ul>
 *   <li>{@code benchmark_contamination}: a user turn copies a benchmark prompt ({@link
 *       ContaminationIndex}); {@code match} is {@code BENCHMARK:QUESTION_ID}, {@code overlap} the
 *       share of words in shared n-grams. Checked first, so a duplicated benchmark prompt is dropped as contamination.
 *   <li>{@code duplicate_content}: the same user turns after {@link TextNormalizer normalisation}
 *       as a conversation with a smaller id, which is kept and named in {@code match}.
 *   <li>{@code near_duplicate}: word-shingle Jaccard similarity at or above the threshold with a
 *       conversation of smaller id (candidates from MinHash LSH bands, confirmed exactly); {@code
 *       match} names the smallest such id. In a chain a~b~c where a and c are not similar, both b
 *       and c are dropped, and c names b.
 * </ul>
 *
 * <p>Scales with the corpus: the exact check groups by content hash, the near check by LSH band
 * key, and the verdicts are joined back to the conversations by id bucket, each into a number of
 * hash buckets ({@link #withBuckets}): a step holds one group at a time, so more buckets mean less
 * memory on a runner that spills its groups. The benchmark index is built once per JVM and spec. Deterministic: the same input and
 * spec drop the same rows with the same matches on every runner.
 */
public final class CleanConversations extends PTransform<PCollection<Conversation>, KeptAndDropped> {
  private static final long serialVersionUID = 1L;
  public static final String CONTAMINATION = "benchmark_contamination";
  public static final String DUPLICATE_CONTENT = "duplicate_content";
  public static final String NEAR_DUPLICATE = "near_duplicate";
  /** The default number of hash buckets of each grouping: few, large groups (see {@link #withBuckets}). */
  public static final int DEFAULT_BUCKETS = 16;

  private static final TupleTag<Conversation> KEPT = new TupleTag<>() {};
  private static final TupleTag<Dropped> DROPPED = new TupleTag<>() {};
  private static final TupleTag<Fingerprint> FIRST = new TupleTag<>() {};
  private static final TupleTag<KV<String, Verdict>> VERDICTS = new TupleTag<>() {};

  private final CleanSpec spec;
  private final int buckets;

  private CleanConversations(CleanSpec spec, int buckets) {
    this.spec = spec;
    this.buckets = buckets;
  }

  public static CleanConversations of(CleanSpec spec) {
    if (spec == null) {
      throw new IllegalArgumentException("spec is required");
    }
    return new CleanConversations(spec, DEFAULT_BUCKETS);
  }

  /**
   * Groups by {@code n} hash buckets (of content hashes, band keys and ids) instead of {@value
   * #DEFAULT_BUCKETS}. Which rows are dropped does not depend on it, only the size of each group:
   * a group's step holds its group in memory (the band comparison keeps every band entry of its
   * group), so a runner that pays little per group and runs corpora larger than memory (Flink's
   * batch mode) wants many small groups, while the DirectRunner pays per group and wants few.
   */
  public CleanConversations withBuckets(int n) {
    if (n < 1) {
      throw new IllegalArgumentException("buckets must be at least 1, got " + n);
    }
    return new CleanConversations(spec, n);
  }

  @Override
  public KeptAndDropped expand(PCollection<Conversation> input) {
    AvroCoder<Conversation> convCoder = AvroCoder.of(Conversation.class);
    AvroCoder<Dropped> droppedCoder = AvroCoder.of(Dropped.class);
    List<PCollection<Dropped>> dropped = new ArrayList<>();
    PCollection<Conversation> candidates = input;
    if (spec.decontaminate()) {
      DecontaminateFn.prepare(spec);
      PCollectionTuple t = input.apply("Decontaminate",
          ParDo.of(new DecontaminateFn(spec)).withOutputTags(KEPT, TupleTagList.of(DROPPED)));
      candidates = t.get(KEPT).setCoder(convCoder);
      dropped.add(t.get(DROPPED).setCoder(droppedCoder));
    }
    PCollection<Conversation> kept = candidates;
    int n = buckets;
    if (spec.dedup() != DedupMode.OFF) {
      FingerprintCoder fpCoder = new FingerprintCoder();
      KvCoder<String, Verdict> verdictCoder = KvCoder.of(StringUtf8Coder.of(), SerializableCoder.of(Verdict.class));
      boolean near = spec.dedup() == DedupMode.NEAR;
      PCollectionTuple exact = candidates
          .apply("Fingerprint", MapElements.into(TypeDescriptor.of(Fingerprint.class)).via((Conversation c) -> Fingerprint.of(c, near)))
          .setCoder(fpCoder)
          // Grouped by a bucket of the content hash, not the hash itself: a runner pays per key
          // group (the DirectRunner a bundle each), and one key per row costs seconds per thousand.
          .apply("KeyByContent", WithKeys.of((Fingerprint f) -> bucket(f.contentKey, n)).withKeyType(TypeDescriptors.integers()))
          .setCoder(KvCoder.of(VarIntCoder.of(), fpCoder))
          .apply("GroupByContent", GroupByKey.create())
          .apply("KeepFirstOfContent", ParDo.of(new KeepFirstOfContentFn()).withOutputTags(FIRST, TupleTagList.of(VERDICTS)));
      List<PCollection<KV<String, Verdict>>> verdicts = new ArrayList<>();
      verdicts.add(exact.get(VERDICTS).setCoder(verdictCoder));
      if (near) {
        verdicts.add(exact.get(FIRST).setCoder(fpCoder)
            .apply("BandKeys", ParDo.of(new BandKeysFn(MinHasher.rowsPerBand(spec.nearThreshold()), n)))
            .setCoder(KvCoder.of(VarIntCoder.of(), ByteArrayCoder.of()))
            .apply("GroupByBand", GroupByKey.create())
            .apply("ComparePairs", ParDo.of(new ComparePairsFn(spec.nearThreshold())))
            .setCoder(verdictCoder)); // several verdicts per id are reduced to the smallest match when applied
      }
      PCollection<KV<Integer, KV<String, Verdict>>> byBucket = PCollectionList.of(verdicts)
          .apply("AllVerdicts", Flatten.pCollections())
          .apply("KeyVerdictsByBucket", WithKeys.of((KV<String, Verdict> v) -> bucket(v.getKey(), n))
              .withKeyType(TypeDescriptors.integers()))
          .setCoder(KvCoder.of(VarIntCoder.of(), verdictCoder));
      PCollection<KV<Integer, byte[]>> convs = candidates
          .apply("KeyConversationsByBucket", ParDo.of(new EncodeByBucketFn(n)))
          .setCoder(KvCoder.of(VarIntCoder.of(), ByteArrayCoder.of()));
      TupleTag<byte[]> convTag = new TupleTag<>();
      TupleTag<KV<String, Verdict>> verdictTag = new TupleTag<>();
      PCollectionTuple applied = KeyedPCollectionTuple.of(convTag, convs).and(verdictTag, byBucket)
          .apply("JoinVerdicts", CoGroupByKey.create())
          .apply("ApplyVerdicts", ParDo.of(new ApplyVerdictsFn(convTag, verdictTag))
              .withOutputTags(KEPT, TupleTagList.of(DROPPED)));
      kept = applied.get(KEPT).setCoder(convCoder);
      dropped.add(applied.get(DROPPED).setCoder(droppedCoder));
    }
    PCollection<Dropped> allDropped = dropped.isEmpty()
        ? input.getPipeline().apply("NothingDropped", Create.empty(droppedCoder))
        : PCollectionList.of(dropped).apply("AllCleanDropped", Flatten.pCollections()).setCoder(droppedCoder);
    return new KeptAndDropped(kept, allDropped);
  }

  private static int bucket(String id, int buckets) {
    return Math.floorMod(id.hashCode(), buckets);
  }

  /** What the dedup steps know of a conversation. */
  static final class Fingerprint implements Serializable {
    private static final long serialVersionUID = 1L;
    final String id;
    final String source;
    final long line;
    final String contentKey;
    final long[] shingles;

    Fingerprint(String id, String source, long line, String contentKey, long[] shingles) {
      this.id = id;
      this.source = source;
      this.line = line;
      this.contentKey = contentKey;
      this.shingles = shingles;
    }

    static Fingerprint of(Conversation c, boolean near) {
      long[] shingles = new long[0];
      if (near) {
        List<String> words = new ArrayList<>();
        c.getTurns().forEach(t -> words.addAll(TextNormalizer.words(t.toString())));
        shingles = MinHasher.shingles(words);
      }
      return new Fingerprint(c.getId(), c.getSource(), c.getLine(), TextNormalizer.contentKey(c.getTurns()), shingles);
    }

    /** The copy that travels once per LSH band: its id and shingles, all the comparison needs. */
    Fingerprint forBands() {
      return new Fingerprint(id, null, 0, "", shingles);
    }

    String where() {
      return source + " line " + line;
    }
  }

  /**
   * A compact binary form of a {@link Fingerprint}: every row travels once per LSH band through a
   * group, so Java serialization's per-object cost would dominate the cleaning step.
   */
  static final class FingerprintCoder extends AtomicCoder<Fingerprint> {
    private static final long serialVersionUID = 1L;

    @Override
    public void encode(Fingerprint f, OutputStream out) throws IOException {
      DataOutputStream d = new DataOutputStream(out);
      d.writeUTF(f.id);
      d.writeBoolean(f.source != null);
      if (f.source != null) {
        d.writeUTF(f.source);
      }
      d.writeLong(f.line);
      d.writeUTF(f.contentKey);
      writeLongs(d, f.shingles);
      d.flush();
    }

    @Override
    public Fingerprint decode(InputStream in) throws IOException {
      DataInputStream d = new DataInputStream(in);
      String id = d.readUTF();
      String source = d.readBoolean() ? d.readUTF() : null;
      long line = d.readLong();
      String contentKey = d.readUTF();
      return new Fingerprint(id, source, line, contentKey, readLongs(d));
    }

    /** The values as one block of bytes: one write and one read per array, not one per value. */
    private static void writeLongs(DataOutputStream d, long[] values) throws IOException {
      d.writeInt(values.length);
      ByteBuffer block = ByteBuffer.allocate(values.length * Long.BYTES);
      block.asLongBuffer().put(values);
      d.write(block.array());
    }

    private static long[] readLongs(DataInputStream d) throws IOException {
      int n = d.readInt();
      if (n < 0) {
        throw new IOException("corrupt fingerprint: negative length " + n);
      }
      byte[] bytes = new byte[n * Long.BYTES];
      d.readFully(bytes);
      long[] values = new long[n];
      ByteBuffer.wrap(bytes).asLongBuffer().get(values);
      return values;
    }
  }

  /** Why one conversation (the key it travels with) is dropped. */
  record Verdict(String reason, String match, double overlap, String detail) implements Serializable {
    static Verdict smaller(Verdict a, Verdict b) {
      return a.match().compareTo(b.match()) <= 0 ? a : b;
    }
  }

  /** Drops conversations with a user turn that copies a benchmark prompt. */
  static final class DecontaminateFn extends DoFn<Conversation, Conversation> {
    private static final long serialVersionUID = 1L;
    private static final Map<CleanSpec, CompletableFuture<ContaminationIndex>> INDEXES = new ConcurrentHashMap<>();
    private final CleanSpec spec;
    private final Counter contaminated = Metrics.counter("clean", CONTAMINATION);
    private transient ContaminationIndex index;

    DecontaminateFn(CleanSpec spec) {
      this.spec = spec;
    }

    /**
     * Starts building the index of {@code spec} on a background thread, unless it is built or being
     * built: called while the graph is built, so that a runner in this JVM (the DirectRunner) finds it
     * ready when the first rows arrive rather than building it while they wait.
     */
    static void prepare(CleanSpec spec) {
      INDEXES.computeIfAbsent(spec, s -> {
        CompletableFuture<ContaminationIndex> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
          try {
            f.complete(ContaminationIndex.of(s.allPrompts(), s.ngram(), s.contaminationThreshold()));
          } catch (RuntimeException | Error e) {
            f.completeExceptionally(e);
          }
        }, "moaa-contamination-index");
        t.setDaemon(true);
        t.start();
        return f;
      });
    }

    static ContaminationIndex indexFor(CleanSpec spec) {
      prepare(spec);
      try {
        return INDEXES.get(spec).join();
      } catch (CompletionException e) {
        INDEXES.remove(spec);
        if (e.getCause() instanceof RuntimeException r) {
          throw r;
        }
        throw e;
      }
    }

    @Setup
    public void setup() {
      index = indexFor(spec);
    }

    @ProcessElement
    public void process(@Element Conversation c, MultiOutputReceiver out) {
      Optional<ContaminationIndex.Match> m = index.match(c.getTurns());
      if (m.isEmpty()) {
        out.get(KEPT).output(c);
        return;
      }
      contaminated.inc();
      BenchmarkPrompt p = m.get().prompt();
      String preview = p.text().length() > 120 ? p.text().substring(0, 120) + "…" : p.text();
      out.get(DROPPED).output(new Dropped(CONTAMINATION, c.getId(), c.getSource(), c.getLine(),
          String.format(Locale.ROOT, "copies %s question %s%s (%.0f%% of words in shared word %d-grams): %s", p.benchmark(),
              p.questionId(), p.turn() > 1 ? " turn " + p.turn() : "", 100 * m.get().overlap(), m.get().gramSize(),
              preview.replaceAll("\\s+", " ")),
          p.reference(), m.get().overlap()));
    }
  }

  /**
   * Per content hash (many share a bucket): the smallest id goes on, every other id gets a {@code
   * duplicate_content} verdict.
   */
  static final class KeepFirstOfContentFn extends DoFn<KV<Integer, Iterable<Fingerprint>>, Fingerprint> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<Integer, Iterable<Fingerprint>> bucket, MultiOutputReceiver out) {
      Map<String, List<Fingerprint>> byContent = new HashMap<>();
      for (Fingerprint f : bucket.getValue()) {
        byContent.computeIfAbsent(f.contentKey, k -> new ArrayList<>()).add(f);
      }
      for (List<Fingerprint> same : byContent.values()) {
        Fingerprint first = same.get(0);
        for (Fingerprint f : same) {
          if (f.id.compareTo(first.id) < 0) {
            first = f;
          }
        }
        out.get(FIRST).output(first);
        for (Fingerprint f : same) {
          if (f != first) {
            out.get(VERDICTS).output(KV.of(f.id, new Verdict(DUPLICATE_CONTENT, first.id, 1.0,
                "same normalized user turns as " + first.id + " (" + first.where() + ")")));
          }
        }
      }
    }
  }

  /**
   * The band entries (band hash, fingerprint) of a bundle, gathered per bucket of the band hash
   * and handed on as one element in their binary form ({@link #BAND_BATCH}). Bytes, not a list of
   * objects: a runner may copy a group's values more than once (the DirectRunner copies a key's
   * whole group each time another bundle adds to it), and a copy of bytes is a copy of an array,
   * not a decode of every fingerprint (measured on W1: about a sixth of the cleaning step's CPU).
   */
  static final Coder<List<KV<Long, Fingerprint>>> BAND_BATCH =
      ListCoder.of(KvCoder.of(VarLongCoder.of(), new FingerprintCoder()));

  /** One element per LSH band of a signature: the band's hash, keyed by a bucket of it. */
  static final class BandKeysFn extends DoFn<Fingerprint, KV<Integer, byte[]>> {
    private static final long serialVersionUID = 1L;
    /** Band entries gathered per bucket before they are handed on as one element. */
    static final int BATCH = 512;
    private final int rows;
    private final int buckets;
    private transient Map<Integer, List<KV<Long, Fingerprint>>> pending;

    BandKeysFn(int rows, int buckets) {
      this.rows = rows;
      this.buckets = buckets;
    }

    @StartBundle
    public void startBundle() {
      pending = new HashMap<>();
    }

    @ProcessElement
    public void process(@Element Fingerprint f, OutputReceiver<KV<Integer, byte[]>> out) throws CoderException {
      if (f.shingles.length == 0) {
        return;
      }
      Fingerprint travelling = f.forBands();
      for (long key : MinHasher.bandKeys(MinHasher.signature(f.shingles), rows)) {
        int bucket = Math.floorMod(Long.hashCode(key), buckets);
        List<KV<Long, Fingerprint>> batch = pending.computeIfAbsent(bucket, b -> new ArrayList<>());
        batch.add(KV.of(key, travelling));
        if (batch.size() >= BATCH) {
          out.output(KV.of(bucket, CoderUtils.encodeToByteArray(BAND_BATCH, pending.remove(bucket))));
        }
      }
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext c) throws CoderException {
      for (Map.Entry<Integer, List<KV<Long, Fingerprint>>> e : pending.entrySet()) {
        c.output(KV.of(e.getKey(), CoderUtils.encodeToByteArray(BAND_BATCH, e.getValue())),
            GlobalWindow.INSTANCE.maxTimestamp(), GlobalWindow.INSTANCE);
      }
      pending = null;
    }
  }

  /** Within one band (many share a bucket): every pair at or above the threshold drops its larger id. */
  static final class ComparePairsFn extends DoFn<KV<Integer, Iterable<byte[]>>, KV<String, Verdict>> {
    private static final long serialVersionUID = 1L;
    private final double threshold;

    ComparePairsFn(double threshold) {
      this.threshold = threshold;
    }

    @ProcessElement
    public void process(@Element KV<Integer, Iterable<byte[]>> bucket,
        OutputReceiver<KV<String, Verdict>> out) throws CoderException {
      Map<Long, List<Fingerprint>> bands = new HashMap<>();
      for (byte[] batch : bucket.getValue()) {
        for (KV<Long, Fingerprint> b : CoderUtils.decodeFromByteArray(BAND_BATCH, batch)) {
          bands.computeIfAbsent(b.getKey(), k -> new ArrayList<>()).add(b.getValue());
        }
      }
      for (List<Fingerprint> all : bands.values()) {
        if (all.size() > 1) {
          compare(all, out);
        }
      }
    }

    private void compare(List<Fingerprint> all, OutputReceiver<KV<String, Verdict>> out) {
      all.sort(Comparator.comparing((Fingerprint f) -> f.id));
      for (int j = 1; j < all.size(); j++) {
        Fingerprint later = all.get(j);
        for (int i = 0; i < j; i++) {
          Fingerprint earlier = all.get(i);
          double jaccard = MinHasher.jaccardAtLeast(earlier.shingles, later.shingles, threshold);
          if (jaccard >= 0) {
            out.output(KV.of(later.id, new Verdict(NEAR_DUPLICATE, earlier.id, jaccard, String.format(Locale.ROOT,
                "near duplicate of %s: Jaccard %.3f of word %d-gram shingles", earlier.id, jaccard, MinHasher.SHINGLE))));
            break;
          }
        }
      }
    }
  }

  /**
   * A conversation keyed by a bucket of its id, in its Avro binary form: like the band batches,
   * the conversations wait in a group the DirectRunner copies whenever a bundle adds to it.
   */
  static final class EncodeByBucketFn extends DoFn<Conversation, KV<Integer, byte[]>> {
    private static final long serialVersionUID = 1L;
    private static final AvroCoder<Conversation> CODER = AvroCoder.of(Conversation.class);

    private final int buckets;

    EncodeByBucketFn(int buckets) {
      this.buckets = buckets;
    }

    @ProcessElement
    public void process(@Element Conversation c, OutputReceiver<KV<Integer, byte[]>> out) throws CoderException {
      out.output(KV.of(bucket(c.getId(), buckets), CoderUtils.encodeToByteArray(CODER, c)));
    }
  }

  /** Per id bucket: conversations with a verdict become {@link Dropped} rows, the rest go on. */
  static final class ApplyVerdictsFn extends DoFn<KV<Integer, CoGbkResult>, Conversation> {
    private static final long serialVersionUID = 1L;
    private final TupleTag<byte[]> convTag;
    private final TupleTag<KV<String, Verdict>> verdictTag;
    private final Counter duplicates = Metrics.counter("clean", DUPLICATE_CONTENT);
    private final Counter nearDuplicates = Metrics.counter("clean", NEAR_DUPLICATE);

    ApplyVerdictsFn(TupleTag<byte[]> convTag, TupleTag<KV<String, Verdict>> verdictTag) {
      this.convTag = convTag;
      this.verdictTag = verdictTag;
    }

    @ProcessElement
    public void process(@Element KV<Integer, CoGbkResult> bucket, MultiOutputReceiver out) throws CoderException {
      Map<String, Verdict> verdicts = new HashMap<>();
      for (KV<String, Verdict> v : bucket.getValue().getAll(verdictTag)) {
        verdicts.merge(v.getKey(), v.getValue(), Verdict::smaller);
      }
      for (byte[] encoded : bucket.getValue().getAll(convTag)) {
        Conversation c = CoderUtils.decodeFromByteArray(EncodeByBucketFn.CODER, encoded);
        Verdict v = verdicts.get(c.getId());
        if (v == null) {
          out.get(KEPT).output(c);
          continue;
        }
        (DUPLICATE_CONTENT.equals(v.reason()) ? duplicates : nearDuplicates).inc();
        out.get(DROPPED).output(new Dropped(v.reason(), c.getId(), c.getSource(), c.getLine(), v.detail(),
            v.match(), v.overlap()));
      }
    }
  }
}
