package io.cdcnotify.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Shape;
import java.awt.Stroke;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

import javax.imageio.ImageIO;

/**
 * {@code java -jar cdc-bench.jar plot}: draws latency (p50 and p99, ms, log scale) against delivered
 * deliveries/s from the driver's JSON lines, one colour per series, into a PNG. Plain Java2D, headless.
 *
 * <pre>
 * plot [--in bench/target/results.jsonl]... [--out bench/target/latency.png]
 *      [--series NAME=LABEL_PREFIX]... [--latency total|commit_to_first_client|commit_to_last_client|...]
 *      [--title TEXT] [--subtitle TEXT] [--width 1100] [--height 700]
 * </pre>
 *
 * A run belongs to the first series whose prefix its {@code --label} starts with (without {@code --series}: one
 * series per label); other runs and runs of the {@code connections} mode are skipped. Every run is a small
 * marker; the lines join, per series, the median of the runs at each target rate and batch, which is written once
 * along the bottom of the plot (events/s written, and the batch when above 1). A hollow marker is a
 * run whose writer committed less than 95 % of its target rate (the point then shows what PostgreSQL let through,
 * not the asked load); a cross marks a run that lost deliveries.
 */
final class Plot {

    private static final Color[] PALETTE = {
        new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0x9467bd), new Color(0xff7f0e),
        new Color(0x8c564b)};
    private static final Color GRID = new Color(0xe4e4e4);
    private static final Color AXIS = new Color(0x444444);
    private static final Color NOTE = new Color(0x666666);

    /** One run: where it sits and how it went. */
    record Point(String series, String label, double x, double p50, double p99, long rate, long batch,
                 boolean behind, long lost) {
    }

    private Plot() {
    }

    static int main(List<String> args) throws IOException {
        List<String> inputs = new ArrayList<>();
        Map<String, String> series = new LinkedHashMap<>();
        String out = "bench/target/latency.png";
        String latency = "total";
        String title = "cdc-notify: latency against load";
        String subtitle = "";
        int width = 1100;
        int height = 700;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (i + 1 >= args.size()) {
                throw new IllegalArgumentException(a + " needs a value");
            }
            String v = args.get(++i);
            switch (a) {
                case "--in" -> inputs.add(v);
                case "--out" -> out = v;
                case "--latency" -> latency = v;
                case "--title" -> title = v;
                case "--subtitle" -> subtitle = v;
                case "--width" -> width = Integer.parseInt(v);
                case "--height" -> height = Integer.parseInt(v);
                case "--series" -> {
                    int eq = v.indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("--series NAME=LABEL_PREFIX, got " + v);
                    }
                    series.put(v.substring(0, eq), v.substring(eq + 1));
                }
                default -> throw new IllegalArgumentException("unknown option " + a
                        + "; known: --in --out --series --latency --title --subtitle --width --height");
            }
        }
        if (inputs.isEmpty()) {
            inputs.add("bench/target/results.jsonl");
        }
        List<Point> points = read(inputs, series, latency);
        if (points.isEmpty()) {
            System.err.println("no load runs matched in " + inputs);
            return 1;
        }
        List<String> names = new ArrayList<>(series.keySet());
        for (Point p : points) {
            if (!names.contains(p.series())) {
                names.add(p.series());
            }
        }
        names.removeIf(n -> points.stream().noneMatch(p -> p.series().equals(n)));
        String caption = String.format(Locale.ROOT,
                "%d runs from %s. Each small marker is one run; lines join the median per target rate. "
                + "Latency: %s (ms).", points.size(), String.join(", ", inputs), describe(latency));
        BufferedImage image = draw(points, names, title, subtitle, caption, width, height);
        Path target = Path.of(out);
        if (target.getParent() != null) {
            Files.createDirectories(target.getParent());
        }
        ImageIO.write(image, "png", target.toFile());
        System.out.printf(Locale.ROOT, "%s: %d runs in %d series (%s)%n", out, points.size(), names.size(),
                          String.join(", ", names));
        for (String n : names) {
            for (Point p : points.stream().filter(p -> p.series().equals(n)).sorted(Comparator.comparingDouble(Point::x)).toList()) {
                System.out.printf(Locale.ROOT, "  %-8s %-24s rate %6d B=%-3d %9.0f deliveries/s  p50 %8.2f  p99 %8.2f ms%s%s%n",
                                  n, p.label(), p.rate(), p.batch(), p.x(), p.p50(), p.p99(),
                                  p.behind() ? "  (writer behind)" : "", p.lost() > 0 ? "  LOST " + p.lost() : "");
            }
        }
        return 0;
    }

    private static String describe(String latency) {
        return switch (latency) {
            case "total" -> "receive time − the event's created_at, over all clients";
            case "commit_to_first_client" -> "writer's commit returned → first client received";
            case "commit_to_last_client" -> "writer's commit returned → last client received";
            default -> latency;
        };
    }

    @SuppressWarnings("unchecked")
    static List<Point> read(List<String> inputs, Map<String, String> series, String latency) throws IOException {
        List<Point> points = new ArrayList<>();
        for (String in : inputs) {
            for (String line : Files.readAllLines(Path.of(in))) {
                if (line.isBlank()) {
                    continue;
                }
                Map<String, Object> r = (Map<String, Object>) Json.read(line);
                if (!"load".equals(r.get("mode")) || !(r.get("latency") instanceof Map)) {
                    continue;
                }
                Map<String, Object> params = (Map<String, Object>) r.get("params");
                String label = String.valueOf(params.get("label"));
                String name = null;
                if (series.isEmpty()) {
                    name = label;
                } else {
                    for (Map.Entry<String, String> s : series.entrySet()) {
                        if (label.startsWith(s.getValue())) {
                            name = s.getKey();
                            break;
                        }
                    }
                }
                if (name == null) {
                    continue;
                }
                Map<String, Object> writes = (Map<String, Object>) r.get("writes");
                Map<String, Object> deliveries = (Map<String, Object>) r.get("deliveries");
                Map<String, Object> lat = (Map<String, Object>) ((Map<String, Object>) r.get("latency")).get(latency);
                if (lat == null || num(lat.get("p50_ms")) <= 0) {
                    continue;
                }
                long rate = (long) num(params.get("rate"));
                double eventsPerS = num(writes.get("events_per_s"));
                boolean behind = rate > 0 && eventsPerS < 0.95 * rate;
                points.add(new Point(name, label, num(deliveries.get("deliveries_per_s")), num(lat.get("p50_ms")),
                                     num(lat.get("p99_ms")), rate, (long) num(params.get("batch")), behind,
                                     (long) num(deliveries.get("lost"))));
            }
        }
        return points;
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    // ---- drawing ----

    /** A log or linear axis mapping data values to pixels. */
    private record Axis(double lo, double hi, boolean log, double from, double to) {
        double px(double v) {
            double f = log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo);
            return from + f * (to - from);
        }

        /** Tick values: 1, 2, 5 per decade on a log axis (only 1 when the range spans many decades). */
        List<Double> ticks() {
            List<Double> t = new ArrayList<>();
            if (log) {
                double decades = Math.log10(hi) - Math.log10(lo);
                double[] steps = decades > 4 ? new double[] {1} : new double[] {1, 2, 5};
                for (double d = Math.pow(10, Math.floor(Math.log10(lo))); d <= hi * 1.0001; d *= 10) {
                    for (double s : steps) {
                        double v = d * s;
                        if (v >= lo * 0.9999 && v <= hi * 1.0001) {
                            t.add(v);
                        }
                    }
                }
            } else {
                double step = niceStep((hi - lo) / 6);
                for (double v = Math.ceil(lo / step) * step; v <= hi + step / 1e6; v += step) {
                    t.add(v);
                }
            }
            return t;
        }
    }

    /** The greatest 1, 2 or 5 × 10^k at or below {@code v}. */
    private static double niceBelow(double v) {
        double d = Math.pow(10, Math.floor(Math.log10(v)));
        return v >= 5 * d ? 5 * d : v >= 2 * d ? 2 * d : d;
    }

    /** The least 1, 2 or 5 × 10^k at or above {@code v}. */
    private static double niceAbove(double v) {
        double d = Math.pow(10, Math.floor(Math.log10(v)));
        return v <= d ? d : v <= 2 * d ? 2 * d : v <= 5 * d ? 5 * d : 10 * d;
    }

    private static double niceStep(double raw) {
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / p;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    }

    private static BufferedImage draw(List<Point> points, List<String> names, String title, String subtitle,
                                      String caption, int width, int height) {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, width, height);

        Font base = new Font(Font.SANS_SERIF, Font.PLAIN, 14);
        Font small = base.deriveFont(12f);
        Font titleFont = base.deriveFont(Font.BOLD, 18f);
        int left = 90;
        int right = 30;
        int top = subtitle.isEmpty() ? 60 : 80;
        int bottom = 110;
        double plotW = width - left - right;
        double plotH = height - top - bottom;

        double xMin = points.stream().mapToDouble(Point::x).min().orElse(1);
        double xMax = points.stream().mapToDouble(Point::x).max().orElse(10);
        double yMin = points.stream().mapToDouble(p -> Math.min(p.p50(), p.p99())).min().orElse(1);
        double yMax = points.stream().mapToDouble(p -> Math.max(p.p50(), p.p99())).max().orElse(10);
        boolean xLog = xMax / Math.max(xMin, 1e-9) >= 20;
        Axis xa = xLog
                ? new Axis(niceBelow(xMin / 1.3), niceAbove(xMax * 1.3), true, left, left + plotW)
                : new Axis(0, xMax * 1.08, false, left, left + plotW);
        Axis ya = new Axis(niceBelow(yMin / 1.3), niceAbove(yMax * 1.3), true, top + plotH, top);

        // grid and ticks
        g.setFont(small);
        FontMetrics fm = g.getFontMetrics();
        for (double v : ya.ticks()) {
            double y = ya.px(v);
            g.setColor(GRID);
            g.draw(new Line2D.Double(left, y, left + plotW, y));
            g.setColor(AXIS);
            String s = number(v);
            g.drawString(s, left - 8 - fm.stringWidth(s), (float) (y + fm.getAscent() / 2.0 - 2));
        }
        for (double v : xa.ticks()) {
            double x = xa.px(v);
            g.setColor(GRID);
            g.draw(new Line2D.Double(x, top, x, top + plotH));
            g.setColor(AXIS);
            String s = number(v);
            g.drawString(s, (float) (x - fm.stringWidth(s) / 2.0), (float) (top + plotH + fm.getAscent() + 6));
        }
        g.setColor(AXIS);
        g.setStroke(new BasicStroke(1.2f));
        g.draw(new Rectangle2D.Double(left, top, plotW, plotH));

        // titles, shrunk to fit the width
        g.setFont(fit(g, titleFont, title, width - left - right));
        g.drawString(title, left, subtitle.isEmpty() ? top - 24 : top - 44);
        if (!subtitle.isEmpty()) {
            g.setFont(fit(g, base, subtitle, width - left - right));
            g.setColor(NOTE);
            g.drawString(subtitle, left, top - 20);
            g.setColor(AXIS);
        }
        g.setFont(base);
        String xLabel = "deliveries/s delivered (events/s × subscribed clients per event)" + (xLog ? ", log scale" : "");
        g.drawString(xLabel, (float) (left + plotW / 2 - g.getFontMetrics().stringWidth(xLabel) / 2.0),
                     (float) (top + plotH + 44));
        Graphics2D gy = (Graphics2D) g.create();
        gy.rotate(-Math.PI / 2);
        String yLabel = "latency, ms (log scale)";
        gy.drawString(yLabel, (float) -(top + plotH / 2 + gy.getFontMetrics().stringWidth(yLabel) / 2.0), 24f);
        gy.dispose();
        g.setFont(small);
        g.setColor(NOTE);
        drawWrapped(g, caption + " Hollow marker: the writer committed < 95 % of its target rate; ×: deliveries lost.",
                    left, (int) (top + plotH + 68), (int) plotW);

        // series
        Stroke solid = new BasicStroke(2.2f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND);
        Stroke dashed = new BasicStroke(2.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[] {9f, 6f}, 0f);
        Stroke thin = new BasicStroke(1.4f);
        for (int si = 0; si < names.size(); si++) {
            String name = names.get(si);
            Color c = PALETTE[si % PALETTE.length];
            List<Point> mine = points.stream().filter(p -> p.series().equals(name)).toList();
            // median per (rate, batch), ordered by delivered rate
            Map<String, List<Point>> groups = new TreeMap<>();
            for (Point p : mine) {
                groups.computeIfAbsent(String.format(Locale.ROOT, "%012d/%06d", p.rate(), p.batch()), k -> new ArrayList<>()).add(p);
            }
            List<double[]> medians = new ArrayList<>();
            for (List<Point> grp : groups.values()) {
                medians.add(new double[] {median(grp, Point::x), median(grp, Point::p50), median(grp, Point::p99),
                                          grp.getFirst().rate(), grp.getFirst().batch()});
            }
            medians.sort(Comparator.comparingDouble(m -> m[0]));
            for (int k = 0; k < 2; k++) {
                Path2D line = new Path2D.Double();
                boolean first = true;
                for (double[] m : medians) {
                    double x = xa.px(m[0]);
                    double y = ya.px(m[1 + k]);
                    if (first) {
                        line.moveTo(x, y);
                        first = false;
                    } else {
                        line.lineTo(x, y);
                    }
                }
                g.setColor(c);
                g.setStroke(k == 0 ? solid : dashed);
                g.draw(line);
            }
            g.setStroke(thin);
            for (Point p : mine) {
                marker(g, c, false, xa.px(p.x()), ya.px(p.p50()), !p.behind(), p.lost() > 0);
                marker(g, c, true, xa.px(p.x()), ya.px(p.p99()), !p.behind(), p.lost() > 0);
            }
        }

        // the target rates along the bottom of the plot: one label per series' median point, each text once
        // where series share it, a second row where different texts would overlap
        List<Object[]> labels = new ArrayList<>();
        for (String name : names) {
            Map<String, List<Point>> rates = new TreeMap<>();
            for (Point p : points) {
                if (p.series().equals(name)) {
                    rates.computeIfAbsent(String.format(Locale.ROOT, "%012d/%06d", p.rate(), p.batch()), k -> new ArrayList<>()).add(p);
                }
            }
            for (List<Point> grp : rates.values()) {
                Point p0 = grp.getFirst();
                String text = (p0.rate() > 0 ? number(p0.rate()) + " events/s" : "unpaced") + (p0.batch() > 1 ? ", B=" + p0.batch() : "");
                labels.add(new Object[] {xa.px(median(grp, Point::x)), text});
            }
        }
        labels.sort(Comparator.comparingDouble(l -> (double) l[0]));
        g.setFont(small.deriveFont(11f));
        g.setColor(NOTE);
        FontMetrics lf = g.getFontMetrics();
        List<double[]> drawn = new ArrayList<>(); // x from, x to, row
        List<String> drawnText = new ArrayList<>();
        for (Object[] l : labels) {
            double x = (double) l[0];
            String text = (String) l[1];
            double w = lf.stringWidth(text);
            double from = x - w / 2;
            double to = x + w / 2;
            boolean same = false;
            int row = 0;
            for (int i = 0; i < drawn.size(); i++) {
                double[] d = drawn.get(i);
                boolean overlaps = from < d[1] + 6 && to > d[0] - 6;
                if (overlaps && drawnText.get(i).equals(text)) {
                    same = true;
                } else if (overlaps && d[2] >= row) {
                    row = (int) d[2] + 1;
                }
            }
            if (same) {
                continue;
            }
            g.drawString(text, (float) from, (float) (top + plotH - 8 - row * 14));
            drawn.add(new double[] {from, to, row});
            drawnText.add(text);
        }

        // legend, top left inside the plot
        g.setFont(small);
        fm = g.getFontMetrics();
        int rows = names.size() * 2;
        int lw = 0;
        for (String n : names) {
            lw = Math.max(lw, fm.stringWidth(n + " p99"));
        }
        int boxW = lw + 70;
        int boxH = rows * 20 + 12;
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(left + 12, top + 12, boxW, boxH);
        g.setColor(GRID.darker());
        g.setStroke(new BasicStroke(1f));
        g.drawRect(left + 12, top + 12, boxW, boxH);
        int row = 0;
        for (int si = 0; si < names.size(); si++) {
            Color c = PALETTE[si % PALETTE.length];
            for (int k = 0; k < 2; k++, row++) {
                double y = top + 28 + row * 20;
                g.setColor(c);
                g.setStroke(k == 0 ? solid : dashed);
                g.draw(new Line2D.Double(left + 22, y - 4, left + 62, y - 4));
                g.setStroke(thin);
                marker(g, c, k == 1, left + 42, y - 4, true, false);
                g.setColor(AXIS);
                g.drawString(names.get(si) + (k == 0 ? " p50" : " p99"), left + 72, (float) y);
            }
        }
        g.dispose();
        return img;
    }

    private static Font fit(Graphics2D g, Font font, String text, int width) {
        Font f = font;
        while (g.getFontMetrics(f).stringWidth(text) > width && f.getSize2D() > 9f) {
            f = f.deriveFont(f.getSize2D() - 0.5f);
        }
        return f;
    }

    private static void marker(Graphics2D g, Color c, boolean square, double x, double y, boolean filled, boolean lost) {
        double r = 4.5;
        Shape s = square ? new Rectangle2D.Double(x - r, y - r, 2 * r, 2 * r) : new Ellipse2D.Double(x - r, y - r, 2 * r, 2 * r);
        if (filled) {
            g.setColor(c);
            g.fill(s);
        } else {
            g.setColor(Color.WHITE);
            g.fill(s);
            g.setColor(c);
            g.draw(s);
        }
        if (lost) {
            g.setColor(Color.BLACK);
            g.draw(new Line2D.Double(x - r - 2, y - r - 2, x + r + 2, y + r + 2));
            g.draw(new Line2D.Double(x - r - 2, y + r + 2, x + r + 2, y - r - 2));
        }
    }

    private static double median(List<Point> ps, java.util.function.ToDoubleFunction<Point> f) {
        double[] v = ps.stream().mapToDouble(f).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** 0.5, 2, 20, 1k, 20k, 1M. */
    static String number(double v) {
        if (v >= 1e6) {
            return trim(v / 1e6) + "M";
        }
        if (v >= 1e3) {
            return trim(v / 1e3) + "k";
        }
        return trim(v);
    }

    private static String trim(double v) {
        if (Math.abs(v - Math.rint(v)) < 1e-9) {
            return Long.toString(Math.round(v));
        }
        return String.format(Locale.ROOT, "%.2f", v).replaceAll("0+$", "").replaceAll("\\.$", "");
    }

    private static void drawWrapped(Graphics2D g, String text, int x, int y, int width) {
        FontMetrics fm = g.getFontMetrics();
        StringBuilder line = new StringBuilder();
        for (String word : text.split(" ")) {
            if (!line.isEmpty() && fm.stringWidth(line + " " + word) > width) {
                g.drawString(line.toString(), x, y);
                y += fm.getHeight();
                line.setLength(0);
            }
            if (!line.isEmpty()) {
                line.append(' ');
            }
            line.append(word);
        }
        if (!line.isEmpty()) {
            g.drawString(line.toString(), x, y);
        }
    }
}
