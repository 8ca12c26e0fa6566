package dev.moaa.pipelines.report;

import java.awt.image.BufferedImage;
import java.awt.image.DataBufferInt;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/**
 * Encodes a chart as a PNG quickly: 8-bit RGB (RGBA when the image has alpha), every row with the
 * "Sub" filter, deflated at the fastest level. The JDK's PNG writer tries every filter on every row
 * to pick the smallest; a chart is mostly runs of one colour, which "Sub" turns into runs of zeros
 * anyway. Measured on a 1000 x 420 chart: 13.5 ms with the JDK's writer, 6 ms here, for a file 14%
 * larger. The page's charts are encoded once the run is over, while the user
 * waits for the command to end.
 */
final class ChartPng {
  private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  private ChartPng() {}

  static byte[] encode(BufferedImage image) throws IOException {
    int w = image.getWidth();
    int h = image.getHeight();
    boolean alpha = image.getColorModel().hasAlpha();
    int channels = alpha ? 4 : 3;
    int[] argb = pixels(image, w, h);
    ByteArrayOutputStream file = new ByteArrayOutputStream(64 * 1024);
    file.write(SIGNATURE);
    ByteArrayOutputStream header = new ByteArrayOutputStream(13);
    DataOutputStream hd = new DataOutputStream(header);
    hd.writeInt(w);
    hd.writeInt(h);
    hd.writeByte(8); // bits per channel
    hd.writeByte(alpha ? 6 : 2); // RGBA or RGB
    hd.writeByte(0); // deflate
    hd.writeByte(0); // adaptive filtering, one filter byte per row
    hd.writeByte(0); // no interlace
    chunk(file, "IHDR", header.toByteArray());
    ByteArrayOutputStream data = new ByteArrayOutputStream(64 * 1024);
    Deflater deflater = new Deflater(Deflater.BEST_SPEED);
    try (DeflaterOutputStream z = new DeflaterOutputStream(data, deflater, 64 * 1024)) {
      byte[] row = new byte[1 + w * channels];
      row[0] = 1; // Sub: each byte minus the same channel of the pixel to its left
      for (int y = 0; y < h; y++) {
        int left = 0;
        int i = 1;
        for (int x = 0; x < w; x++) {
          int p = argb[y * w + x];
          row[i++] = (byte) ((p >>> 16) - (left >>> 16));
          row[i++] = (byte) ((p >>> 8) - (left >>> 8));
          row[i++] = (byte) (p - left);
          if (alpha) {
            row[i++] = (byte) ((p >>> 24) - (left >>> 24));
          }
          left = p;
        }
        z.write(row);
      }
    } finally {
      deflater.end();
    }
    chunk(file, "IDAT", data.toByteArray());
    chunk(file, "IEND", new byte[0]);
    return file.toByteArray();
  }

  /** The pixels as ARGB ints: the image's own array when it is one (XChart's are), else converted. */
  private static int[] pixels(BufferedImage image, int w, int h) {
    int type = image.getType();
    if ((type == BufferedImage.TYPE_INT_ARGB || type == BufferedImage.TYPE_INT_RGB)
        && image.getRaster().getDataBuffer() instanceof DataBufferInt ints
        && image.getRaster().getSampleModel().getWidth() == w && ints.getData().length == w * h) {
      // (for RGB the top byte is never read: no alpha is written)
      return ints.getData();
    }
    return image.getRGB(0, 0, w, h, null, 0, w);
  }

  private static void chunk(ByteArrayOutputStream file, String type, byte[] body) throws IOException {
    DataOutputStream out = new DataOutputStream(file);
    byte[] t = type.getBytes(StandardCharsets.US_ASCII);
    out.writeInt(body.length);
    out.write(t);
    out.write(body);
    CRC32 crc = new CRC32();
    crc.update(t);
    crc.update(body);
    out.writeInt((int) crc.getValue());
  }
}
