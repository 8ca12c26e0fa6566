package dev.moaa.transforms.io;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.MoveOptions.StandardMoveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;

/**
 * A file or folder of a run, on local disk or in object storage ({@code s3://bucket/key},
 * {@code gs://bucket/key}): the few operations a run makes on its inputs and outputs outside the
 * pipeline (does it exist, list a folder, read, write, delete). A local path goes through
 * {@code java.nio.file} as before; a URL goes through Beam's {@link FileSystems}, which must have
 * been given the run's options ({@link FileSystems#setDefaultPipelineOptions}) first, so that the
 * object store's endpoint, region and credentials are those of the run.
 *
 * <p>In object storage a folder is a key prefix: it exists when an object lies under it, creating
 * one does nothing, and listing it lists the objects directly under it. A failure of the store
 * (no such bucket, no credentials, refused) is an {@link IOException} with the store's message.
 */
public final class StoragePath {
  private static final Pattern URL = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]*://.*");

  private final Path local;
  private final String url;

  private StoragePath(Path local, String url) {
    this.local = local;
    this.url = url;
  }

  /** {@code location} as given: a URL with a scheme ({@code s3://b/k}) or a local path (made absolute). */
  public static StoragePath of(String location) {
    Objects.requireNonNull(location);
    if (isUrl(location) && !location.startsWith("file://")) {
      String u = location;
      while (u.endsWith("/") && !u.endsWith("://")) {
        u = u.substring(0, u.length() - 1);
      }
      return new StoragePath(null, u);
    }
    Path p = location.startsWith("file://") ? Paths.get(java.net.URI.create(location)) : Paths.get(location);
    return new StoragePath(p.toAbsolutePath(), null);
  }

  /** A local file or folder. */
  public static StoragePath local(Path path) {
    return new StoragePath(path.toAbsolutePath(), null);
  }

  /** True when {@code location} names a scheme ({@code s3://…}, {@code gs://…}): not a local path. */
  public static boolean isUrl(String location) {
    return URL.matcher(location).matches();
  }

  /** The scheme of a URL ({@code s3}), {@code file} for a local path. */
  public String scheme() {
    return local != null ? "file" : url.substring(0, url.indexOf(':'));
  }

  public boolean isLocal() {
    return local != null;
  }

  /** The local path; only for a local location. */
  public Path localPath() {
    if (local == null) {
      throw new IllegalStateException(url + " is not on local disk");
    }
    return local;
  }

  /** The file or folder {@code relative} (may hold {@code /}) under this folder. */
  public StoragePath resolve(String relative) {
    if (local != null) {
      return new StoragePath(local.resolve(relative), null);
    }
    String r = relative;
    while (r.startsWith("/")) {
      r = r.substring(1);
    }
    return new StoragePath(null, url + "/" + r);
  }

  /** The last name of the path. */
  public String fileName() {
    if (local != null) {
      return local.getFileName().toString();
    }
    return url.substring(url.lastIndexOf('/') + 1);
  }

  /** True when a file (an object) is at exactly this path. */
  public boolean isFile() throws IOException {
    if (local != null) {
      return Files.isRegularFile(local);
    }
    return !match(url).isEmpty();
  }

  /** True when this path is a file, or a folder with something in it (locally: a folder at all). */
  public boolean exists() throws IOException {
    if (local != null) {
      return Files.exists(local);
    }
    return isFile() || !match(url + "/**").isEmpty();
  }

  /** The files directly in this folder whose names end with {@code suffix}, by name; none for a missing folder. */
  public List<StoragePath> files(String suffix) throws IOException {
    List<StoragePath> out = new ArrayList<>();
    if (local != null) {
      if (!Files.isDirectory(local)) {
        return out;
      }
      try (Stream<Path> s = Files.list(local)) {
        s.filter(Files::isRegularFile).filter(p -> p.getFileName().toString().endsWith(suffix)).sorted()
            .forEach(p -> out.add(new StoragePath(p, null)));
      }
      return out;
    }
    for (MatchResult.Metadata m : match(url + "/*")) {
      String name = m.resourceId().getFilename();
      if (name != null && !name.isEmpty() && name.endsWith(suffix)) {
        out.add(resolve(name));
      }
    }
    out.sort(Comparator.comparing(StoragePath::toString));
    return out;
  }

  /** The size in bytes of this file. */
  public long size() throws IOException {
    if (local != null) {
      return Files.size(local);
    }
    List<MatchResult.Metadata> m = match(url);
    if (m.isEmpty()) {
      throw new java.io.FileNotFoundException(url);
    }
    return m.get(0).sizeBytes();
  }

  /** Opens this file for reading (buffered). */
  public InputStream open() throws IOException {
    if (local != null) {
      return new BufferedInputStream(Files.newInputStream(local), 1 << 16);
    }
    try {
      return new BufferedInputStream(Channels.newInputStream(FileSystems.open(resourceId(false))), 1 << 16);
    } catch (RuntimeException e) {
      throw storeFailure("read", e);
    }
  }

  public String readString() throws IOException {
    try (InputStream in = open()) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Writes {@code text} (UTF-8) as this file, replacing it. */
  public void writeString(String text) throws IOException {
    if (local != null) {
      Files.writeString(local, text, StandardCharsets.UTF_8);
      return;
    }
    try (WritableByteChannel ch = FileSystems.create(resourceId(false), mimeType(fileName()))) {
      ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
      while (b.hasRemaining()) {
        ch.write(b);
      }
    } catch (RuntimeException e) {
      throw storeFailure("write", e);
    }
  }

  /** Creates this folder and its parents on local disk; nothing in object storage, where folders are key prefixes. */
  public void createFolders() throws IOException {
    if (local != null) {
      Files.createDirectories(local);
    }
  }

  /** Deletes this file, or this folder with everything under it; nothing when it does not exist. */
  public void deleteRecursively() throws IOException {
    if (local != null) {
      if (!Files.exists(local)) {
        return;
      }
      try (Stream<Path> walk = Files.walk(local)) {
        for (Path x : walk.sorted(Comparator.reverseOrder()).toList()) {
          Files.delete(x);
        }
      }
      return;
    }
    List<ResourceId> doomed = new ArrayList<>();
    for (MatchResult.Metadata m : match(url + "/**")) {
      doomed.add(m.resourceId());
    }
    for (MatchResult.Metadata m : match(url)) {
      doomed.add(m.resourceId());
    }
    if (doomed.isEmpty()) {
      return;
    }
    try {
      FileSystems.delete(doomed, StandardMoveOptions.IGNORE_MISSING_FILES);
    } catch (RuntimeException e) {
      throw storeFailure("delete", e);
    }
  }

  /** Removes the empty Beam temporary folders ({@code .temp-beam…}) directly in this local folder; nothing in object storage. */
  public void removeEmptyTempFolders() {
    if (local == null || !Files.isDirectory(local)) {
      return;
    }
    try (Stream<Path> children = Files.list(local)) {
      for (Path temp : children.filter(c -> c.getFileName().toString().startsWith(".temp-beam")
          && Files.isDirectory(c)).toList()) {
        try (Stream<Path> inside = Files.list(temp)) {
          if (inside.findAny().isEmpty()) {
            Files.deleteIfExists(temp);
          }
        }
      }
    } catch (IOException e) {
      // a folder that cannot be listed keeps its temporary folder
    }
  }

  private ResourceId resourceId(boolean directory) {
    return FileSystems.matchNewResource(url, directory);
  }

  /** The objects {@code spec} matches (a glob or one name); empty when none. */
  private static List<MatchResult.Metadata> match(String spec) throws IOException {
    MatchResult m;
    try {
      m = FileSystems.match(spec, EmptyMatchTreatment.ALLOW);
    } catch (IOException e) {
      throw new IOException(rootMessage(e), e);
    } catch (RuntimeException e) {
      throw storeFailure("list", e);
    }
    if (m.status() == MatchResult.Status.NOT_FOUND) {
      return List.of();
    }
    if (m.status() != MatchResult.Status.OK) {
      try {
        m.metadata();
      } catch (IOException e) {
        throw new IOException(rootMessage(e), e);
      }
      throw new IOException("cannot list " + spec + ": " + m.status());
    }
    return m.metadata();
  }

  private static IOException storeFailure(String what, RuntimeException e) {
    return new IOException("cannot " + what + ": " + rootMessage(e), e);
  }

  /** The innermost message of {@code t}'s causes, with its type when it has none. */
  static String rootMessage(Throwable t) {
    Throwable c = t;
    while (c.getCause() != null && c.getCause() != c) {
      c = c.getCause();
    }
    String msg = c.getMessage();
    return msg == null || msg.isBlank() ? c.getClass().getSimpleName() : msg;
  }

  private static String mimeType(String name) {
    if (name.endsWith(".html")) {
      return "text/html";
    }
    if (name.endsWith(".json")) {
      return "application/json";
    }
    if (name.endsWith(".md")) {
      return "text/markdown";
    }
    return "text/plain";
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof StoragePath s && Objects.equals(local, s.local) && Objects.equals(url, s.url);
  }

  @Override
  public int hashCode() {
    return Objects.hash(local, url);
  }

  /** The local path, or the URL. */
  @Override
  public String toString() {
    return local != null ? local.toString() : url;
  }
}
