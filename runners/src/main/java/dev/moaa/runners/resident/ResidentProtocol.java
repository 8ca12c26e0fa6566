package dev.moaa.runners.resident;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What the {@code moaa} launcher's client and a resident JVM say to each other over a Unix-domain
 * socket. The client sends one request (the command's arguments); the server answers with frames:
 * {@link #ACCEPTED} once it has taken the run (before that, nothing was run and the client may start
 * the command elsewhere), then the run's output ({@link #OUT}, {@link #ERR}) and its
 * {@link #EXIT} code; or {@link #BUSY} when it is already running a command. The client may send
 * {@link #CANCEL} (Ctrl-C); closing its end means the same. JDK classes only: the client runs
 * from a jar of its own, so that it starts in a fraction of the bundled jar's time.
 */
public final class ResidentProtocol {
  static final int MAGIC = 0x4d6f4141; // "MoAA"
  static final int VERSION = 1;

  static final byte ACCEPTED = 1;
  static final byte OUT = 2;
  static final byte ERR = 3;
  static final byte EXIT = 4;
  static final byte BUSY = 5;
  static final byte CANCEL = 9;

  /** The client's exit code when no server took the command (none listening, or it failed to start). */
  public static final int NOT_SERVED = 250;
  /** The client's exit code when the server was running another command. */
  public static final int SERVER_BUSY = 251;

  /** Arguments longer than this are refused (a request is a command line, not data). */
  static final int MAX_REQUEST_BYTES = 1 << 20;

  private ResidentProtocol() {}

  static void writeRequest(DataOutputStream out, List<String> args) throws IOException {
    out.writeInt(MAGIC);
    out.writeInt(VERSION);
    out.writeInt(args.size());
    for (String a : args) {
      byte[] b = a.getBytes(StandardCharsets.UTF_8);
      out.writeInt(b.length);
      out.write(b);
    }
    out.flush();
  }

  /** The arguments of a request; throws on anything that is not one of this version. */
  static List<String> readRequest(DataInputStream in) throws IOException {
    if (in.readInt() != MAGIC || in.readInt() != VERSION) {
      throw new IOException("not a moaa request of protocol version " + VERSION);
    }
    int n = in.readInt();
    if (n < 0 || n > 10_000) {
      throw new IOException("bad argument count " + n);
    }
    List<String> args = new ArrayList<>(n);
    long total = 0;
    for (int i = 0; i < n; i++) {
      int len = in.readInt();
      total += len;
      if (len < 0 || total > MAX_REQUEST_BYTES) {
        throw new IOException("request too long");
      }
      args.add(new String(in.readNBytes(len), StandardCharsets.UTF_8));
    }
    return args;
  }
}
