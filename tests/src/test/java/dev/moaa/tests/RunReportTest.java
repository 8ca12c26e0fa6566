package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.awt.image.BufferedImage;
import java.io.BufferedWriter;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The run reports of an end-to-end SFT run and an end-to-end DPO run against the simulated endpoint
 * (429s from a tight per-model cap, injected 5xx, a malformed input line, a duplicate row): every
 * chart of each report is in the page and holds a drawn image, the page needs no network, and
 * headless Chromium renders it to a screenshot in which every chart lies where the page put it,
 * loaded and not blank.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RunReportTest {
  private static final List<String> COMMON_CHARTS = List.of("calls", "calls-over-time", "latency",
      "latency-over-time", "retries", "rate-limited-over-time", "tokens", "cost", "dead-letters", "dropped");
  private static final List<String> SFT_CHARTS = concat(COMMON_CHARTS, List.of("lengths"));
  private static final List<String> DPO_CHARTS = concat(COMMON_CHARTS, List.of("margins", "agreement", "consistency"));
  private static final Pattern SECTION = Pattern.compile(
      "<section class=\"chart\" id=\"([a-z-]+)\">(.*?)</section>", Pattern.DOTALL);
  private static final Pattern IMAGE = Pattern.compile("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");
  private static final Pattern LAYOUT = Pattern.compile("<title>LAYOUT ([^<]*)</title>");

  private SimulatedEndpoint sim;
  private Path sftOut;
  private Fixtures.Run sft;
  private Path dpoOut;
  private Fixtures.Run dpo;

  @BeforeAll
  void runOnce() throws IOException {
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(20).withLatencyJitterMs(60)
        .withMaxInFlightPerModel(3).withRetryAfterMs(20).withRate5xx(0.05).withSeed(7)
        .withJudgeNoise(0.2).withJudgePositionBias(0.2));

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
    sftOut = work.resolve("out");
    sft = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"), "--input=" + input + "/*.jsonl",
        "--output=" + sftOut, "--progressSeconds=0");

    work = Fixtures.workDir("report-dpo");
    input = work.resolve("input");
    Files.createDirectories(input);
    try (BufferedWriter w = Files.newBufferedWriter(input.resolve("p.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < 16; i++) {
        w.write("{\"id\":\"d" + i + "\",\"prompt\":\"Report question " + i + ": how should a team "
            + "really ".repeat(i % 4) + "version its datasets?\"}\n");
      }
      w.write("{\"id\":\"d3\",\"prompt\":\"A second prompt with an id already used.\"}\n");
      w.write("{\"id\":\"broken\",\"prompt\":\n");
    }
    Files.writeString(work.resolve("config.yaml"), DpoFixtures.config(sim.baseUrl(),
        "{mode: moa, judges: [j1, j2, j3], aggregator: lead}", 3).replace("max_concurrency: 24", "max_concurrency: 6"));
    dpoOut = work.resolve("out");
    dpo = Fixtures.moaa("dpo", "--config=" + work.resolve("config.yaml"), "--input=" + input + "/*.jsonl",
        "--output=" + dpoOut, "--progressSeconds=0");
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  @Test
  void sft_writesTheReportNextToTheShards_withEveryChartDrawn() throws IOException {
    assertEveryChartDrawn(sft, sftOut, "sft", SFT_CHARTS);
    assertTrue(Files.readString(sftOut.resolve("report.html")).matches("(?s).*<td>4[12]</td>.*"),
        "the summary shows the rows read");
  }

  @Test
  void dpo_writesTheReportNextToTheShards_withEveryChartDrawn() throws IOException {
    assertEveryChartDrawn(dpo, dpoOut, "dpo", DPO_CHARTS);
    assertTrue(Files.readString(dpoOut.resolve("report.html")).matches("(?s).*<td>1[78]</td>.*"),
        "the summary shows the rows read");
  }

  @Test
  void sft_rendersInHeadlessChromium_withEveryChartLoadedAndVisibleInTheScreenshot() throws Exception {
    assertRendersInChromium(sft, sftOut, SFT_CHARTS);
  }

  @Test
  void dpo_rendersInHeadlessChromium_withEveryChartLoadedAndVisibleInTheScreenshot() throws Exception {
    assertRendersInChromium(dpo, dpoOut, DPO_CHARTS);
  }

  @Test
  void everyCallInTheShardsRecordsWhenItStarted_andThe429sAreCountedApart() throws IOException {
    for (Path out : List.of(sftOut, dpoOut)) {
      String kind = out == sftOut ? "sft" : "dpo";
      List<GenericRecord> calls = new ArrayList<>();
      try (Stream<Path> files = Files.list(out.resolve(kind).resolve("avro"))) {
        for (Path f : files.filter(p -> p.toString().endsWith(".avro")).toList()) {
          try (DataFileReader<GenericRecord> r = new DataFileReader<>(f.toFile(), new GenericDatumReader<>())) {
            r.forEach(row -> collectCalls(row, calls));
          }
        }
      }
      assertFalse(calls.isEmpty(), kind);
      long limited = 0;
      for (GenericRecord c : calls) {
        Long started = (Long) c.get("started_at_ms");
        Long ended = (Long) c.get("ended_at_ms");
        assertNotNull(started, kind + ": " + c);
        assertTrue(ended != null && ended >= started, kind + ": " + c);
        int rateLimited = (Integer) c.get("rate_limited");
        assertTrue(rateLimited <= (Integer) c.get("attempts"), kind + ": " + c);
        limited += rateLimited;
      }
      long inManifest = 0;
      for (JsonNode m : Fixtures.manifest(out).path("models")) {
        inManifest += m.path("rate_limited").asLong();
      }
      assertTrue(limited > 0, kind + ": the tight per-model cap answered some calls 429");
      assertTrue(inManifest >= limited, kind + ": the manifest's 429s (" + inManifest
          + ") include those of the written rows (" + limited + ")");
    }
  }

  private static void collectCalls(Object value, List<GenericRecord> calls) {
    if (value instanceof GenericRecord r) {
      if ("Call".equals(r.getSchema().getName())) {
        calls.add(r);
        return;
      }
      r.getSchema().getFields().forEach(f -> collectCalls(r.get(f.pos()), calls));
    } else if (value instanceof java.util.Collection<?> c) {
      c.forEach(v -> collectCalls(v, calls));
    }
  }

  /** The page holds exactly the expected charts, each a readable PNG that is not one colour. */
  private static void assertEveryChartDrawn(Fixtures.Run run, Path out, String command, List<String> charts)
      throws IOException {
    assertEquals(0, run.code(), run.err());
    Path report = out.resolve("report.html");
    assertTrue(Files.isRegularFile(report), run.out());
    assertTrue(run.out().contains("report:       " + report), run.out());
    String html = Files.readString(report);
    assertTrue(html.contains("MoAA " + command.toUpperCase(java.util.Locale.ROOT) + " run report"));
    List<String> seen = new ArrayList<>();
    Matcher s = SECTION.matcher(html);
    while (s.find()) {
      String id = s.group(1);
      seen.add(id);
      Matcher img = IMAGE.matcher(s.group(2));
      assertTrue(img.find(), "chart '" + id + "' has no image: " + s.group(2));
      BufferedImage chart = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(img.group(1))));
      assertNotNull(chart, "chart '" + id + "' is not a readable PNG");
      assertTrue(chart.getWidth() >= 400 && chart.getHeight() >= 200, id);
      assertTrue(distinctColours(chart, 0, 0, chart.getWidth(), chart.getHeight()) >= 4,
          "chart '" + id + "' is (nearly) one colour");
    }
    assertEquals(Set.copyOf(charts), Set.copyOf(seen), "the charts of the " + command + " report");
    assertEquals(charts.size(), seen.size(), "each chart once: " + seen);
    assertFalse(html.matches("(?s).*(src|href)=\"(https?:)?//.*"), "the report must not load anything from the network");
    assertFalse(html.contains("<script"), "the report runs no script");
    Matcher limited = Pattern.compile("answered 429 \\(rate limited\\), (\\d+) in all").matcher(html);
    assertTrue(limited.find() && Long.parseLong(limited.group(1)) > 0, "the run met 429s and the report shows them");
  }

  /**
   * Chromium loads a copy of the page with a probe script that writes, into the title, where each
   * chart's image lies and whether it decoded; then screenshots the page itself at full height, and
   * each chart's area of the screenshot must hold a drawing (many colours, not mostly white).
   */
  private static void assertRendersInChromium(Fixtures.Run run, Path out, List<String> charts) throws Exception {
    String chromium = chromium();
    Assumptions.assumeTrue(chromium != null,
        "Chromium is not installed (apt-get install chromium; ./run-tests does it): the screenshot check is skipped");
    assertEquals(0, run.code(), run.err());
    Path dir = out.getParent();
    Path report = out.resolve("report.html");
    Path probe = dir.resolve("report-probe.html");
    Files.writeString(probe, Files.readString(report).replace("</body>", PROBE + "</body>"));
    String dom = chrome(chromium, dir, "dom", List.of("--virtual-time-budget=10000", "--dump-dom"), probe);
    Matcher m = LAYOUT.matcher(dom);
    assertTrue(m.find(), "the probe did not report the layout: " + dom.substring(0, Math.min(2000, dom.length())));
    String[] parts = m.group(1).split(";");
    int pageHeight = Integer.parseInt(parts[0].trim());
    Map<String, int[]> boxes = new LinkedHashMap<>();
    for (int i = 1; i < parts.length; i++) {
      String[] f = parts[i].split(",");
      int[] v = new int[f.length - 1];
      for (int k = 1; k < f.length; k++) {
        v[k - 1] = Integer.parseInt(f[k].trim());
      }
      boxes.put(f[0], v);
    }
    assertEquals(Set.copyOf(charts), boxes.keySet(), "charts Chromium laid out");
    for (Map.Entry<String, int[]> e : boxes.entrySet()) {
      int[] v = e.getValue();
      assertEquals(1, v[0], "chart '" + e.getKey() + "': its image did not load in Chromium");
      assertTrue(v[1] >= 400 && v[2] >= 200, "chart '" + e.getKey() + "' decoded to " + v[1] + "x" + v[2]);
      assertTrue(v[5] >= 400 && v[6] >= 200, "chart '" + e.getKey() + "' laid out at " + v[5] + "x" + v[6]);
    }

    Path shot = dir.resolve("report.png");
    Files.deleteIfExists(shot);
    chrome(chromium, dir, "shot", List.of("--hide-scrollbars", "--screenshot=" + shot,
        "--window-size=1280," + pageHeight), report);
    assertTrue(Files.isRegularFile(shot), "no screenshot: " + Files.readString(dir.resolve("chromium-shot.log")));
    BufferedImage image = ImageIO.read(shot.toFile());
    assertEquals(1280, image.getWidth());
    assertTrue(image.getHeight() >= pageHeight - 20, "screenshot height " + image.getHeight() + " < page " + pageHeight);
    for (Map.Entry<String, int[]> e : boxes.entrySet()) {
      int[] v = e.getValue();
      int x = v[3];
      int y = v[4];
      int w = Math.min(v[5], image.getWidth() - x);
      int h = Math.min(v[6], image.getHeight() - y);
      assertTrue(w >= 400 && h >= 200, "chart '" + e.getKey() + "' lies outside the screenshot: " + x + "," + y);
      assertTrue(distinctColours(image, x, y, w, h) >= 8, "chart '" + e.getKey() + "' is blank in the screenshot");
      double ink = inkShare(image, x, y, w, h);
      assertTrue(ink > 0.01, "chart '" + e.getKey() + "' is (nearly) white in the screenshot: " + ink);
    }
  }

  /** Written into the title on load: page height; then per chart id,loaded,naturalW,naturalH,x,y,w,h. */
  private static final String PROBE = "<script>window.addEventListener('load',function(){var o=[];"
      + "document.querySelectorAll('section.chart').forEach(function(s){var i=s.querySelector('img');"
      + "if(!i){o.push([s.id,-1,0,0,0,0,0,0].join(','));return;}var r=i.getBoundingClientRect();"
      + "o.push([s.id,i.complete&&i.naturalWidth>0?1:0,i.naturalWidth,i.naturalHeight,Math.round(r.left+scrollX),"
      + "Math.round(r.top+scrollY),Math.round(r.width),Math.round(r.height)].join(','));});"
      + "document.title='LAYOUT '+document.documentElement.scrollHeight+';'+o.join(';');});</script>";

  private static String chrome(String chromium, Path dir, String name, List<String> flags, Path page) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(chromium, "--headless", "--disable-gpu", "--no-sandbox",
        "--no-first-run", "--user-data-dir=" + dir.resolve("chromium-profile-" + name)));
    cmd.addAll(flags);
    cmd.add(page.toUri().toString());
    Path stdout = dir.resolve("chromium-" + name + ".out");
    Path log = dir.resolve("chromium-" + name + ".log");
    Process p = new ProcessBuilder(cmd).redirectOutput(stdout.toFile()).redirectError(log.toFile()).start();
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("chromium did not finish: " + Files.readString(log));
    }
    return Files.readString(stdout);
  }

  private static int distinctColours(BufferedImage image, int x0, int y0, int w, int h) {
    Set<Integer> colours = new HashSet<>();
    for (int y = y0; y < y0 + h; y += 3) {
      for (int x = x0; x < x0 + w; x += 3) {
        colours.add(image.getRGB(x, y));
        if (colours.size() > 64) {
          return colours.size();
        }
      }
    }
    return colours.size();
  }

  /** Share of sampled pixels that are not (near) white. */
  private static double inkShare(BufferedImage image, int x0, int y0, int w, int h) {
    long ink = 0;
    long all = 0;
    for (int y = y0; y < y0 + h; y += 2) {
      for (int x = x0; x < x0 + w; x += 2) {
        int rgb = image.getRGB(x, y);
        int r = (rgb >> 16) & 0xff;
        int g = (rgb >> 8) & 0xff;
        int b = rgb & 0xff;
        all++;
        if (r < 235 || g < 235 || b < 235) {
          ink++;
        }
      }
    }
    return all == 0 ? 0 : (double) ink / all;
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> out = new ArrayList<>(a);
    out.addAll(b);
    return List.copyOf(out);
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
