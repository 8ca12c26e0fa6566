package dev.moaa.pipelines.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/** The report's PNG encoder, read back by the JDK's own PNG reader pixel for pixel. */
class ChartPngTest {
  private static int[] pixels(BufferedImage img) {
    return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
  }

  private static BufferedImage drawn(int type) {
    BufferedImage img = new BufferedImage(301, 127, type);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, 301, 127);
    g.setColor(new Color(200, 30, 60));
    g.drawLine(0, 120, 300, 3);
    g.setColor(new Color(20, 90, 200, 128));
    g.fillOval(40, 10, 90, 80);
    g.drawString("calls per second", 150, 60);
    g.dispose();
    return img;
  }

  @Test
  void givenAnOpaqueChart_theJdkReadsBackTheSamePixels() throws Exception {
    BufferedImage img = drawn(BufferedImage.TYPE_INT_RGB);
    BufferedImage back = ImageIO.read(new ByteArrayInputStream(ChartPng.encode(img)));
    assertNotNull(back);
    assertEquals(301, back.getWidth());
    assertEquals(127, back.getHeight());
    assertArrayEquals(pixels(img), pixels(back));
  }

  @Test
  void givenAlphaAndNoise_theJdkReadsBackTheSamePixels() throws Exception {
    BufferedImage img = drawn(BufferedImage.TYPE_INT_ARGB);
    SplittableRandom r = new SplittableRandom(7);
    for (int i = 0; i < 2_000; i++) {
      img.setRGB(r.nextInt(301), r.nextInt(127), r.nextInt());
    }
    BufferedImage back = ImageIO.read(new ByteArrayInputStream(ChartPng.encode(img)));
    assertArrayEquals(pixels(img), pixels(back));
  }
}
