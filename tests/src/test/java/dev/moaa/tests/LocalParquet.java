package dev.moaa.tests;

import dev.moaa.transforms.io.ChannelInputFile;
import dev.moaa.transforms.io.ParquetShardSink;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.apache.parquet.io.InputFile;
import org.apache.parquet.io.OutputFile;

/** Parquet files on local disk without Hadoop's FileSystem (which would need its security stack). */
final class LocalParquet {
  private LocalParquet() {}

  static InputFile in(Path file) throws IOException {
    return new ChannelInputFile(FileChannel.open(file, StandardOpenOption.READ));
  }

  /** The channel stays open until {@code close} runs after the writer is closed. */
  static OutputFile out(FileChannel channel) {
    return ParquetShardSink.outputFile(channel);
  }

  static FileChannel create(Path file) throws IOException {
    return FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
  }

}
