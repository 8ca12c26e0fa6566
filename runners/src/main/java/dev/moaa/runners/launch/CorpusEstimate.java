package dev.moaa.runners.launch;

import dev.moaa.transforms.io.ChannelInputFile;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.parquet.hadoop.ParquetFileReader;

/**
 * How many rows a run's input holds, found before the pipeline is built and without reading it
 * all: a Parquet file's footer gives its row count; for JSONL files (compressed or not) the first
 * {@value #SAMPLE_BYTES} bytes of the first file of each compression give lines per stored byte,
 * which the other files' sizes are multiplied by (exact when the sample is the whole file).
 *
 * @param files the files the globs matched
 * @param bytes their stored size
 * @param rows the estimated rows (input lines or Parquet rows)
 */
public record CorpusEstimate(long files, long bytes, long rows) {
  /** The most bytes read (decompressed) from one file to learn its lines per byte. */
  static final int SAMPLE_BYTES = 1 << 20;

  /**
   * The estimate for {@code globs} (as the run reads them: local paths or any scheme Beam's
   * FileSystems know). A glob that matches nothing counts nothing; the run itself says so.
   */
  public static CorpusEstimate of(List<String> globs) throws IOException {
    long files = 0;
    long bytes = 0;
    double rows = 0;
    double[] linesPerByte = new double[Compression.values().length];
    for (String glob : globs) {
      for (MatchResult.Metadata m : FileSystems.match(glob, EmptyMatchTreatment.ALLOW).metadata()) {
        if (m.resourceId().isDirectory()) {
          continue;
        }
        files++;
        bytes += m.sizeBytes();
        String name = m.resourceId().toString();
        if (name.endsWith(".parquet")) {
          rows += parquetRows(m);
          continue;
        }
        Compression c = Compression.detect(name);
        if (linesPerByte[c.ordinal()] == 0) {
          long[] sample = sampleLines(m, c);
          if (sample[1] >= m.sizeBytes()) {
            rows += sample[0];
            // the whole file: its lines are known, and its ratio serves the next files
            linesPerByte[c.ordinal()] = sample[1] == 0 ? -1 : (double) sample[0] / sample[1];
            continue;
          }
          linesPerByte[c.ordinal()] = sample[1] == 0 ? -1 : (double) sample[0] / sample[1];
        }
        rows += Math.max(0, linesPerByte[c.ordinal()]) * m.sizeBytes();
      }
    }
    return new CorpusEstimate(files, bytes, Math.round(rows));
  }

  private static long parquetRows(MatchResult.Metadata m) throws IOException {
    try (SeekableByteChannel ch = (SeekableByteChannel) FileSystems.open(m.resourceId());
        ParquetFileReader r = ParquetFileReader.open(new ChannelInputFile(ch))) {
      return r.getRecordCount();
    }
  }

  /**
   * {lines, stored bytes consumed} of the start of one file: lines ending with a newline among the
   * first {@link #SAMPLE_BYTES} decompressed bytes, plus a last unterminated one when the file ends
   * there; the stored bytes the decompressor consumed to produce them.
   */
  private static long[] sampleLines(MatchResult.Metadata m, Compression c) throws IOException {
    try (ReadableByteChannel raw = FileSystems.open(m.resourceId())) {
      CountingChannel counting = new CountingChannel(raw);
      try (InputStream in = Channels.newInputStream(c.readDecompressed(counting))) {
        byte[] buf = new byte[1 << 16];
        long lines = 0;
        long seen = 0;
        int last = '\n';
        int n;
        while (seen < SAMPLE_BYTES && (n = in.read(buf)) > 0) {
          for (int i = 0; i < n; i++) {
            if (buf[i] == '\n') {
              lines++;
            }
          }
          last = buf[n - 1];
          seen += n;
        }
        boolean ended = seen < SAMPLE_BYTES;
        if (ended && last != '\n' && seen > 0) {
          lines++;
        }
        return new long[] {lines, ended ? m.sizeBytes() : Math.max(1, counting.count)};
      }
    }
  }

  /** "about 1,000,000 rows in 1 file (214 MB)". */
  public String describe() {
    return String.format(Locale.ROOT, "about %,d rows in %,d file%s (%s)", rows, files, files == 1 ? "" : "s",
        megabytes(bytes));
  }

  static String megabytes(long bytes) {
    return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GB", bytes / (double) (1L << 30))
        : String.format(Locale.ROOT, "%,d MB", Math.max(1, Math.round(bytes / (double) (1L << 20))));
  }

  /** A channel that counts the bytes read through it. */
  private static final class CountingChannel implements ReadableByteChannel {
    private final ReadableByteChannel in;
    long count;

    CountingChannel(ReadableByteChannel in) {
      this.in = in;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      int n = in.read(dst);
      if (n > 0) {
        count += n;
      }
      return n;
    }

    @Override
    public boolean isOpen() {
      return in.isOpen();
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
