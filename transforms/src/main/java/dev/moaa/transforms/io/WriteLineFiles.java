package dev.moaa.transforms.io;

import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileIO;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.transforms.Contextful;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.transforms.windowing.PaneInfo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PDone;

/**
 * Writes lines of text to several places of one output folder in a single file write. Each element
 * is {@code KV(place, line)}: a place named with {@link #withSingleFile} is one file of exactly that
 * name (such as {@code _run/counts.tsv}); any other place {@code P} is the folder {@code P/} with
 * {@code part-00000-of-00001.jsonl} in it. A place no element names gets no file.
 *
 * <p>A run's small outputs (dead letters, dropped rows, counts) go through this one write rather
 * than one write each: every file write is some twenty steps, and the DirectRunner's set-up and
 * scheduling cost grows with the number of steps.
 */
public final class WriteLineFiles extends PTransform<PCollection<KV<String, String>>, PDone> {
  private static final long serialVersionUID = 1L;
  public static final String SUFFIX = ".jsonl";

  private final String directory;
  private final Set<String> singleFiles;

  private WriteLineFiles(String directory, Set<String> singleFiles) {
    this.directory = Objects.requireNonNull(directory);
    this.singleFiles = Set.copyOf(singleFiles);
  }

  public static WriteLineFiles to(String directory) {
    return new WriteLineFiles(directory, Set.of());
  }

  /** Places written as one file of exactly this name, relative to the folder. */
  public WriteLineFiles withSingleFile(String name) {
    Set<String> all = new HashSet<>(singleFiles);
    all.add(name);
    return new WriteLineFiles(directory, all);
  }

  @Override
  public PDone expand(PCollection<KV<String, String>> lines) {
    String dir = directory.endsWith("/") ? directory : directory + "/";
    Set<String> singles = singleFiles;
    lines.apply("Write", FileIO.<String, KV<String, String>>writeDynamic()
        .by(KV::getKey)
        .withDestinationCoder(StringUtf8Coder.of())
        .via(Contextful.fn(KV::getValue), TextIO.sink())
        .to(dir)
        .withNaming(place -> singles.contains(place)
            ? new ExactName(place)
            : FileIO.Write.defaultNaming(place + "/part", SUFFIX))
        .withNumShards(1));
    return PDone.in(lines.getPipeline());
  }

  /** A file name that is the same for every window, pane and shard: for a place of one shard. */
  static final class ExactName implements FileIO.Write.FileNaming {
    private static final long serialVersionUID = 1L;
    private final String name;

    ExactName(String name) {
      this.name = name;
    }

    @Override
    public String getFilename(BoundedWindow window, PaneInfo pane, int numShards, int shardIndex,
        Compression compression) {
      if (numShards != 1) {
        throw new IllegalStateException(name + " is one file, but the write has " + numShards + " shards");
      }
      return name;
    }
  }
}
