package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.sim.SimulatedEndpoint;
import java.awt.image.BufferedImage;
import java.io.BufferedWriter;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The run report of an end-to-end SFT run against the simulated endpoint (429s from a tight
 * per-model cap, injected 5xx, a malformed input line, a duplicate row): every chart is in the page
 * and holds a drawn image, the page needs no network, and headless Chromium renders it to a
 * screenshot that is not blank.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RunReportTest {
  private static final List<String> SFT_CHARTS =
      List.of("calls", "latency", "lengths", "retries", "tokens", "cost", "dead-letters", "dropped");
  private static final Pattern SECTION = Pattern.compile(
      "<section class=\"chart\" id=\"([a-z-]+)\">(.*?)</section>", Pattern.DOTALL);
  private static final Pattern IMAGE = Pattern.compile("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");

  private SimulatedEndpoint sim;
  private Path out;
  private Fixtures.Run run;

  @BeforeAll
  void runOnce() throws IOException {
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(20).withLatencyJitterMs(60)
        .withMaxInFlightPerModel(3).withRetryAfterMs(20).withRate5xx(0.05).withSeed(7));
    Path work = Fixtures.workDir("report-sft");
    Path input = work.resolve("input");
    Files.createDirectories(input);
    try (BufferedWriter w = Files.newBufferedWriter(input.resolve("r.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < 40; i++) {
        w.write("{\"id\":\"r" + i + "\",\"prompt\":\"Report prompt " + i + ": compare " + "two ".repeat(i % 7)
            + "ways to shard a dataset.\"}\n");
      }
      w.write("{\"id\":\"r3\",\"prompt\":\"A second row with an id already used.\"}\n");
      w.write("{\"id\":\"broken\",\"prompt\":\n");
    }
    Files.writeString(work.resolve("config.yaml"), Fixtures.config(sim.baseUrl(), 3, 1, 2, "")
        .replace("max_concurrency: 16", "max_concurrency: 6"));
    out = work.resolve("out");
    run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"), "--input=" + input + "/*.jsonl",
        "--output=" + out, "--progressSeconds=0");
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  @Test
  void writesTheReportNextToTheShards_withEveryChartDrawn() throws IOException {
    assertEquals(0, run.code(), run.err());
    Path report = out.resolve("report.html");
    assertTrue(Files.isRegularFile(report), run.out());
    assertTrue(run.out().contains("report:       " + report), run.out());
    String html = Files.readString(report);
    Set<String> seen = new HashSet<>();
    Matcher s = SECTION.matcher(html);
    while (s.find()) {
      String id = s.group(1);
      seen.add(id);
      Matcher img = IMAGE.matcher(s.group(2));
      assertTrue(img.find(), "chart '" + id + "' has no image: " + s.group(2));
      BufferedImage chart = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(img.group(1))));
      assertNotNull(chart, "chart '" + id + "' is not a readable PNG");
      assertTrue(chart.getWidth() >= 400 && chart.getHeight() >= 200, id);
      assertTrue(distinctColours(chart) >= 4, "chart '" + id + "' is (nearly) one colour");
    }
    assertTrue(seen.containsAll(SFT_CHARTS), "charts present: " + seen);
    assertFalse(html.matches("(?s).*(src|href)=\"(https?:)?//.*"), "the report must not load anything from the network");
    assertTrue(html.contains("<td>41</td>") || html.contains("<td>42</td>"), "the summary shows the rows read");
  }

  @Test
  void rendersInHeadlessChromium_toANonBlankScreenshot() throws Exception {
    String chromium = chromium();
    Assumptions.assumeTrue(chromium != null,
        "Chromium is not installed (apt-get install chromium; ./run-tests does it): the screenshot check is skipped");
    assertEquals(0, run.code(), run.err());
    Path shot = out.getParent().resolve("report.png");
    Files.deleteIfExists(shot);
    Process p = new ProcessBuilder(chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
        "--screenshot=" + shot, "--window-size=1280,4000", out.resolve("report.html").toUri().toString())
        .redirectErrorStream(true).redirectOutput(out.getParent().resolve("chromium.log").toFile()).start();
    assertTrue(p.waitFor(120, TimeUnit.SECONDS), "chromium did not finish");
    assertTrue(Files.isRegularFile(shot), "no screenshot: " + Files.readString(out.getParent().resolve("chromium.log")));
    assertTrue(Files.size(shot) > 20_000, "screenshot too small: " + Files.size(shot) + " bytes");
    BufferedImage image = ImageIO.read(shot.toFile());
    assertEquals(1280, image.getWidth());
    assertTrue(image.getHeight() >= 2000, "height " + image.getHeight());
    assertTrue(distinctColours(image) >= 16, "the screenshot is (nearly) one colour");
  }

  private static int distinctColours(BufferedImage image) {
    Set<Integer> colours = new HashSet<>();
    for (int y = 0; y < image.getHeight(); y += 3) {
      for (int x = 0; x < image.getWidth(); x += 3) {
        colours.add(image.getRGB(x, y));
        if (colours.size() > 64) {
          return colours.size();
        }
      }
    }
    return colours.size();
  }

  /** The Chromium binary: $MOAA_CHROMIUM, else chromium or chromium-browser on the PATH; null if none. */
  static String chromium() {
    String env = System.getenv("MOAA_CHROMIUM");
    if (env != null && new File(env).canExecute()) {
      return env;
    }
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      for (String name : List.of("chromium", "chromium-browser")) {
        File f = new File(dir, name);
        if (f.canExecute()) {
          return f.getPath();
        }
      }
    }
    return null;
  }
}
