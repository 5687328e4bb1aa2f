package io.cdcnotify.bench;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.HdrHistogram.Histogram;

/**
 * Drives a running cdc-notify with WebSocket and SSE clients and an outbox writer, and reports end-to-end
 * latency (receive time − the event's {@code created_at}), deliveries, losses, duplicates and the CPU and
 * memory of the driver, the service and PostgreSQL. See {@code docs/benchmarks.md}.
 *
 * <pre>
 * java -jar cdc-bench.jar load        --ws 500 --sse 500 --tables 100 --rate 1000 ... (workloads 1-3)
 * java -jar cdc-bench.jar connections --ws 5000 --sse 5000 --duration 60 ...         (workload 4)
 * java -jar cdc-bench.jar jmh [JMH options]                                          (micro-benchmarks)
 * java -jar cdc-bench.jar plot --in results.jsonl --out latency.png --series notify=sweep-notify ...
 * </pre>
 */
public final class LoadDriver {

    private static final Pattern KEY = Pattern.compile("\"key\"\\s*:\\s*\"([^\"]+)\"");

    private final Options o;
    private final String mode;
    private final long serverPid;
    /** Every service instance's pid ({@code --server-pid} may list several, comma-separated): CPU and RSS are summed. */
    private final long[] serverPids;
    private final Map<String, Object> report = new LinkedHashMap<>();

    private LoadDriver(String mode, Options o) {
        this.mode = mode;
        this.o = o;
        this.serverPids = java.util.Arrays.stream(o.str("server-pid").split(",")).map(String::trim)
                .filter(x -> !x.isEmpty()).mapToLong(Long::parseLong).filter(x -> x > 0).toArray();
        this.serverPid = serverPids.length > 0 ? serverPids[0] : 0;
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
            System.out.print(Options.usage());
            return;
        }
        String mode = args[0];
        if (mode.equals("jmh")) {
            org.openjdk.jmh.Main.main(Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (mode.equals("plot")) {
            System.setProperty("java.awt.headless", "true");
            try {
                System.exit(Plot.main(List.of(args).subList(1, args.length)));
            } catch (IllegalArgumentException e) {
                System.err.println(e.getMessage());
                System.err.print(Options.usage());
                System.exit(2);
            }
            return;
        }
        if (!mode.equals("load") && !mode.equals("connections")) {
            System.err.print(Options.usage());
            System.exit(2);
        }
        Options options;
        try {
            options = new Options(List.of(args).subList(1, args.length));
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.print(Options.usage());
            System.exit(2);
            return;
        }
        LoadDriver driver = new LoadDriver(mode, options);
        int status = mode.equals("load") ? driver.load() : driver.connections();
        System.exit(status);
    }

    // ---- workloads 1-3: events through clients ----

    private int load() throws Exception {
        int wsCount = o.integer("ws");
        int sseCount = o.integer("sse");
        int tables = o.integer("tables");
        String prefix = o.str("table-prefix");
        long span = o.longValue("warmup") + o.longValue("duration") + 10;
        long capacity = o.integer("rate") > 0 ? o.integer("rate") * span * 2 + 10_000 : 4_000_000;
        Stats stats = new Stats(wsCount + sseCount, (int) Math.min(capacity, 50_000_000));
        begin();
        String key = createKey();
        try (Connection monitor = monitor()) {
            stats.baseId = maxOutboxId(monitor);
            setup(monitor);
            ExecutorService wsExec = executor("ws-io");
            ExecutorService sseExec = executor("sse-io");
            WsDriver ws = wsClients(key, prefix, stats, wsExec);
            SseDriver sse = sseClients(key, prefix, stats, sseExec);
            long openNanos = openClients(stats, ws, sse, wsCount, sseCount, tables);
            if (openNanos < 0) {
                return finish(stats, 1);
            }

            Writer writer = new Writer(o.str("db"), o.str("db-user"), o.str("db-password"), o.integer("writers"),
                                       o.integer("rate"), o.integer("batch"), tables, prefix,
                                       o.integer("payload-bytes"), o.str("sync-commit"),
                                       o.decimal("filter-fraction") > 0, stats.timeline);
            long warmup = o.longValue("warmup") * 1_000_000L;
            long duration = o.longValue("duration") * 1_000_000L;
            long start = Events.nowMicros();
            stats.windowStart = start + warmup;
            stats.windowEnd = start + warmup + duration;
            writer.start();
            sleepUntil(stats.windowStart);
            writer.lateness(); // forget the warm-up
            Sample a = sample(monitor);
            long txA = writer.transactions();
            long rowsA = writer.rows();
            long peakRss = peakRssUntil(stats.windowEnd);
            Sample b = sample(monitor);
            long txB = writer.transactions();
            long rowsB = writer.rows();
            Histogram lateness = writer.lateness();
            writer.stop();
            long stoppedAt = Events.nowMicros();

            // the outbox is the truth: what was committed, and so what each client should have got
            Committed committed = committed(monitor, stats.baseId, prefix, tables, stats.windowStart, stats.windowEnd);
            long expected = 0;
            long expectedInWindow = 0;
            for (Stats.Receiver r : stats.receivers) {
                Committed.Rows rows = committed.tables[r.table];
                for (int k = 0; k < rows.ids.length; k++) {
                    if (r.wants(rows.customers[k], rows.operations[k])) {
                        expected++;
                        expectedInWindow += rows.inWindow[k] ? 1 : 0;
                    }
                }
            }
            long drainUntil = System.nanoTime() + o.longValue("drain") * 1_000_000_000L;
            while (stats.delivered() < expected && System.nanoTime() < drainUntil) {
                Thread.sleep(50);
            }
            long drained = Events.nowMicros() - stoppedAt;
            ws.closing();
            sse.closing();

            long lost = 0;
            long foreign = 0;
            long lostClients = 0;
            long unwanted = 0;
            long filteredClients = 0;
            for (Stats.Receiver r : stats.receivers) {
                long l = 0;
                Committed.Rows rows = committed.tables[r.table];
                for (int k = 0; k < rows.ids.length; k++) {
                    boolean got = r.received(rows.ids[k]);
                    if (r.wants(rows.customers[k], rows.operations[k])) {
                        l += got ? 0 : 1;
                    } else if (got) {
                        unwanted++; // the service's filter let through an event the client's filter excludes
                    }
                }
                lost += l;
                lostClients += l > 0 ? 1 : 0;
                foreign += r.foreign();
                filteredClients += r.filter != null ? 1 : 0;
            }
            stats.ws.close();
            stats.sse.close();
            double seconds = duration / 1e6;

            Map<String, Object> writes = new LinkedHashMap<>();
            writes.put("committed_events", committed.total);
            writes.put("committed_events_in_window", committed.inWindow);
            writes.put("events_per_s", committed.inWindow / seconds);
            writes.put("transactions_per_s", (txB - txA) / seconds);
            writes.put("rows_per_s_writer", (rowsB - rowsA) / seconds);
            writes.put("target_events_per_s", o.integer("rate"));
            writes.put("failures", writer.failures());
            writes.put("first_failure", writer.firstFailure());
            writes.put("writer_lateness", Json.latency(lateness));
            report.put("writes", writes);

            Map<String, Object> deliveries = new LinkedHashMap<>();
            deliveries.put("expected", expected);
            deliveries.put("delivered", stats.delivered());
            deliveries.put("lost", lost);
            deliveries.put("clients_with_losses", lostClients);
            deliveries.put("duplicates", stats.ws.duplicates.sum() + stats.sse.duplicates.sum());
            deliveries.put("foreign", foreign);
            deliveries.put("filtered_clients", filteredClients);
            deliveries.put("unwanted", unwanted);
            deliveries.put("expected_per_event", committed.total == 0 ? 0.0 : expected / (double) committed.total);
            long inWindow = stats.ws.deliveredInWindow.sum() + stats.sse.deliveredInWindow.sum();
            deliveries.put("expected_in_window", expectedInWindow);
            deliveries.put("delivered_in_window", inWindow);
            deliveries.put("deliveries_per_s", inWindow / seconds);
            deliveries.put("drain_ms", drained / 1000.0);
            deliveries.put("closed_early", stats.closedEarly.sum());
            deliveries.put("client_errors", stats.errors.sum());
            deliveries.put("error_samples", stats.errorSamples());
            report.put("deliveries", deliveries);

            Histogram all = stats.ws.latencyResult.copy();
            all.add(stats.sse.latencyResult);
            Histogram allIntended = stats.ws.fromIntendedResult.copy();
            allIntended.add(stats.sse.fromIntendedResult);
            Map<String, Object> latency = new LinkedHashMap<>();
            latency.put("total", Json.latency(all));
            latency.put("websocket", Json.latency(stats.ws.latencyResult));
            latency.put("sse", Json.latency(stats.sse.latencyResult));
            latency.put("total_from_intended", Json.latency(allIntended));
            Histogram toFirst = new Histogram(1, 3_600_000_000L, 3);
            Histogram toLast = new Histogram(1, 3_600_000_000L, 3);
            Stats.Timeline tl = stats.timeline;
            // wall clock of a nanoTime, to set slow events beside the service's GC log (-Xlog:gc:...:time)
            long epochOffsetNanos = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
            StringBuilder csv = o.str("events-out").isEmpty() ? null
                    : new StringBuilder("commit_epoch_ms,to_first_us,to_last_us\n");
            for (int i = 0; i < tl.committed.length(); i++) {
                long c = tl.committed.get(i);
                if (c == 0 || c < a.nanos() || c >= b.nanos()) {
                    continue;
                }
                long f = tl.first.get(i);
                if (f != 0) {
                    long first = Math.max(0, (f - c) / 1_000);
                    long last = Math.max(0, (tl.last.get(i) - c) / 1_000);
                    toFirst.recordValue(first);
                    toLast.recordValue(last);
                    if (csv != null) {
                        csv.append((c + epochOffsetNanos) / 1_000_000L).append(',').append(first).append(',')
                                .append(last).append('\n');
                    }
                }
            }
            if (csv != null) {
                Files.writeString(Path.of(o.str("events-out")), csv);
            }
            latency.put("commit_to_first_client", Json.latency(toFirst));
            latency.put("commit_to_last_client", Json.latency(toLast));
            report.put("latency", latency);
            report.put("resources", resources(a, b, seconds, peakRss, committed.inWindow, inWindow));

            ws.close();
            sse.close();
            WsClients.awaitQuietly(wsExec);
            WsClients.awaitQuietly(sseExec);
            boolean ok = lost == 0 && unwanted == 0 && writer.failures() == 0 && stats.closedEarly.sum() == 0;
            report.put("ok", ok);
            return finish(stats, 0);
        }
    }

    // ---- workload 4: many idle connections ----

    private int connections() throws Exception {
        int wsCount = o.integer("ws");
        int sseCount = o.integer("sse");
        int tables = o.integer("tables");
        String prefix = o.str("table-prefix");
        Stats stats = new Stats(wsCount + sseCount, 1);
        begin();
        String key = createKey();
        try (Connection monitor = monitor()) {
            stats.baseId = maxOutboxId(monitor);
            setup(monitor);
            Map<String, Object> memory = new LinkedHashMap<>();
            int warm = o.integer("warmup-connections");
            if (warm > 0) {
                memory.put("warmup", warmUp(key, prefix, tables, wsCount > 0 ? warm : 0, sseCount > 0 ? warm : 0));
            }
            if (serverPid > 0) {
                // the idle service's JIT compiles for a while after start; its arenas count in RSS until then
                Thread.sleep(o.integer("settle") * 1_000L);
                memory.put("rss_before_kb", Resources.statusKb(serverPid, "VmRSS"));
                memory.put("live_heap_before_kb", Resources.heapUsedKb(serverPid, true));
                // after the full collection heapUsedKb ran: the floor, with G1's free-ratio shrink done
                memory.put("rss_after_gc_before_kb", Resources.statusKb(serverPid, "VmRSS"));
                memory.put("threads_before", Resources.threads(serverPid));
            }
            ExecutorService wsExec = executor("ws-io");
            ExecutorService sseExec = executor("sse-io");
            WsDriver ws = wsClients(key, prefix, stats, wsExec);
            SseDriver sse = sseClients(key, prefix, stats, sseExec);
            long openNanos = openClients(stats, ws, sse, wsCount, sseCount, tables);
            boolean allOpened = openNanos >= 0;
            long openErrors = stats.errors.sum();
            if (!allOpened) {
                // measure those that did subscribe (the report says how many); the run is not ok
                openNanos = -openNanos;
                stats.receivers.stream().filter(r -> !r.isSubscribed()).forEach(r -> r.closed = true);
            }
            Thread.sleep(3_000);
            int n = (int) (wsCount + sseCount - stats.subscribed.getCount());
            long hold = o.longValue("duration") * 1_000_000L;
            long holdStart = Events.nowMicros();
            Sample a = sample(monitor);
            if (serverPid > 0) {
                long rss = Resources.statusKb(serverPid, "VmRSS");
                memory.put("rss_open_kb", rss);
                memory.put("threads_open", Resources.threads(serverPid));
                memory.put("rss_per_connection_kb",
                           (rss - ((Number) memory.get("rss_before_kb")).longValue()) / (double) n);
                if (Boolean.parseBoolean(o.str("open-gc"))) {
                    long heap = Resources.heapUsedKb(serverPid, true);
                    memory.put("live_heap_open_kb", heap);
                    memory.put("live_heap_per_connection_kb",
                               (heap - ((Number) memory.get("live_heap_before_kb")).longValue()) / (double) n);
                    long rssAfterGc = Resources.statusKb(serverPid, "VmRSS");
                    memory.put("rss_after_gc_open_kb", rssAfterGc);
                    memory.put("rss_after_gc_per_connection_kb",
                               (rssAfterGc - ((Number) memory.get("rss_after_gc_before_kb")).longValue()) / (double) n);
                    memory.put("class_histogram_top", Resources.classHistogram(serverPid, 25));
                }
            }
            long peakRss = peakRssUntil(holdStart + hold);
            Sample b = sample(monitor);
            if (serverPid > 0) {
                long rssEnd = Resources.statusKb(serverPid, "VmRSS");
                memory.put("rss_end_kb", rssEnd);
                // with open-gc false: what the service holds by itself after the hold, no collection forced
                memory.put("rss_end_per_connection_kb",
                           (rssEnd - ((Number) memory.get("rss_before_kb")).longValue()) / (double) n);
                memory.put("rss_peak_kb", Resources.statusKb(serverPid, "VmHWM"));
                // the same readings at the end of the hold: the connections idle, the storm's compilation done
                long heldHeap = Resources.heapUsedKb(serverPid, true);
                long heldRss = Resources.statusKb(serverPid, "VmRSS");
                memory.put("live_heap_held_kb", heldHeap);
                memory.put("rss_after_gc_held_kb", heldRss);
                memory.put("live_heap_held_per_connection_kb",
                           (heldHeap - ((Number) memory.get("live_heap_before_kb")).longValue()) / (double) n);
                memory.put("rss_after_gc_held_per_connection_kb",
                           (heldRss - ((Number) memory.get("rss_after_gc_before_kb")).longValue()) / (double) n);
            }
            long open = stats.receivers.stream().filter(r -> !r.closed).count();

            // one event per table: every connection must still be live, and get exactly its table's event
            long before = stats.delivered();
            try (Statement st = monitor.createStatement()) {
                st.executeUpdate("INSERT INTO cdc.outbox (table_name, operation, payload) SELECT '" + prefix
                                 + "' || g, 'INSERT', jsonb_build_object('t', 0) FROM generate_series(0, "
                                 + (tables - 1) + ") g");
            }
            long probeStart = System.nanoTime();
            long deadline = probeStart + 30_000_000_000L;
            while (stats.delivered() - before < n && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            long probeMs = (System.nanoTime() - probeStart) / 1_000_000;
            ws.closing();
            sse.closing();

            Map<String, Object> conns = new LinkedHashMap<>();
            conns.put("requested", wsCount + sseCount);
            conns.put("subscribed", n);
            conns.put("errors_while_opening", openErrors);
            conns.put("open_seconds", openNanos / 1e9);
            conns.put("open_per_s", n / (openNanos / 1e9));
            conns.put("still_open_after_hold", open);
            conns.put("probe_delivered", stats.delivered() - before);
            conns.put("probe_all_delivered_ms", stats.delivered() - before >= n ? probeMs : null);
            conns.put("closed_early", stats.closedEarly.sum());
            conns.put("client_errors", stats.errors.sum());
            conns.put("error_samples", stats.errorSamples());
            report.put("connections", conns);
            report.put("memory", memory);
            report.put("resources", resources(a, b, hold / 1e6, peakRss, 0, 0));
            report.put("ok", allOpened && open == n && stats.delivered() - before == n);
            ws.close();
            sse.close();
            WsClients.awaitQuietly(wsExec);
            WsClients.awaitQuietly(sseExec);
            return finish(stats, 0);
        }
    }

    /**
     * Opens {@code ws} + {@code sse} connections on other clients, waits until all are subscribed, closes them and
     * gives the service 5 s to let them go: the measurement that follows sees a service whose code for a connection
     * has run (and been compiled) before, as a service that has served clients has. Returns what it did.
     */
    private Map<String, Object> warmUp(String key, String prefix, int tables, int ws, int sse) throws Exception {
        Stats warmStats = new Stats(ws + sse, 1);
        ExecutorService wsExec = executor("warm-ws-io");
        ExecutorService sseExec = executor("warm-sse-io");
        WsDriver wsDriver = wsClients(key, prefix, warmStats, wsExec);
        SseDriver sseDriver = sseClients(key, prefix, warmStats, sseExec);
        long took = openClients(warmStats, wsDriver, sseDriver, ws, sse, tables);
        wsDriver.closing();
        sseDriver.closing();
        wsDriver.close();
        sseDriver.close();
        WsClients.awaitQuietly(wsExec);
        WsClients.awaitQuietly(sseExec);
        Thread.sleep(5_000);
        Map<String, Object> warm = new LinkedHashMap<>();
        warm.put("websocket", ws);
        warm.put("sse", sse);
        warm.put("all_subscribed", took >= 0);
        warm.put("subscribe_all_seconds", Math.abs(took) / 1e9);
        return warm;
    }

    // ---- shared steps ----

    private void begin() {
        report.put("mode", mode);
        report.put("started_at", Instant.now().toString());
        report.put("params", o.asReport());
        Map<String, Object> machine = new LinkedHashMap<>();
        machine.put("cpus", Runtime.getRuntime().availableProcessors());
        machine.put("java", System.getProperty("java.version"));
        machine.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version"));
        report.put("machine", machine);
    }

    /**
     * What the service runs with, as far as the driver can tell: whether cdc.outbox's NOTIFY trigger is enabled,
     * and the listener mode if run.sh passed it in the environment.
     */
    private void setup(Connection monitor) {
        Map<String, Object> setup = new LinkedHashMap<>();
        setup.put("listener_mode", System.getenv("CDC_LISTENER_MODE"));
        setup.put("fanout", System.getenv("CDC_FANOUT"));           // run.sh: database or nats (relay mode)
        setup.put("nice", System.getenv("NICE"));                   // run.sh: the run's scheduling priority
        setup.put("instances", serverPids.length > 0 ? serverPids.length : o.str("url").split(",").length);
        try (Statement st = monitor.createStatement();
             ResultSet rs = st.executeQuery("SELECT tgenabled FROM pg_trigger WHERE tgname = 'outbox_doorbell' "
                                            + "AND tgrelid = 'cdc.outbox'::regclass")) {
            setup.put("doorbell_trigger", rs.next() ? !rs.getString(1).equals("D") : null);
        } catch (SQLException e) {
            setup.put("doorbell_trigger", null);
        }
        report.put("service_setup", setup);
    }

    /**
     * Opens the clients, interleaved, client i on table i mod tables (a fraction {@code --filter-fraction} of each
     * transport's clients with a {@link ClientFilter}); nanoseconds until all subscribed, or -1.
     */
    private long openClients(Stats stats, WsDriver ws, SseDriver sse, int wsCount, int sseCount, int tables)
            throws InterruptedException {
        Semaphore gate = new Semaphore(o.integer("connect-concurrency"));
        long t0 = System.nanoTime();
        int w = 0;
        int s = 0;
        int filtered = 0;
        double fraction = o.decimal("filter-fraction");
        double share = o.decimal("filter-share");
        while (w < wsCount || s < sseCount) {
            if (w < wsCount) {
                ClientFilter f = ClientFilter.filtered(w, fraction) ? ClientFilter.of(filtered++, share) : null;
                ws.open(w++ % tables, f, gate);
            }
            if (s < sseCount) {
                ClientFilter f = ClientFilter.filtered(s, fraction) ? ClientFilter.of(filtered++, share) : null;
                sse.open(s++ % tables, f, gate);
            }
        }
        boolean all = stats.subscribed.await(o.longValue("connect-timeout"), TimeUnit.SECONDS);
        long took = System.nanoTime() - t0;
        Map<String, Object> clients = new LinkedHashMap<>();
        clients.put("websocket", wsCount);
        clients.put("sse", sseCount);
        clients.put("ws_client", o.str("ws-client"));
        clients.put("sse_client", o.str("sse-client"));
        clients.put("subscribed", wsCount + sseCount - stats.subscribed.getCount());
        clients.put("subscribe_all_seconds", took / 1e9);
        report.put("clients", clients);
        if (!all) {
            report.put("error", "not every client subscribed within " + o.str("connect-timeout") + " s");
            if (mode.equals("load")) {
                ws.close();
                sse.close();
            }
            return -Math.max(1, took);
        }
        return took;
    }

    /** The WebSocket clients {@code --ws-client} names: raw NIO (the default) or the JDK's WebSocket. */
    private WsDriver wsClients(String key, String prefix, Stats stats, ExecutorService wsExec) throws IOException {
        return switch (o.str("ws-client")) {
            case "jdk" -> new WsClients(o.str("url"), key, prefix, stats, wsExec, o.integer("ws-selectors"));
            case "nio" -> new NioWsClients(o.str("url"), key, prefix, stats, o.integer("ws-selectors"));
            default -> throw new IllegalArgumentException("--ws-client is nio or jdk, got " + o.str("ws-client"));
        };
    }

    /** The SSE clients {@code --sse-client} names: raw NIO (the default) or the JDK's HttpClient. */
    private SseDriver sseClients(String key, String prefix, Stats stats, ExecutorService sseExec) throws IOException {
        return switch (o.str("sse-client")) {
            case "jdk" -> new SseClients(o.str("url"), key, prefix, stats, sseExec);
            case "nio" -> new NioSseClients(o.str("url"), key, prefix, stats, o.integer("sse-selectors"));
            default -> throw new IllegalArgumentException("--sse-client is nio or jdk, got " + o.str("sse-client"));
        };
    }

    private int finish(Stats stats, int status) throws IOException {
        report.putIfAbsent("ok", false);
        String line = Json.write(report);
        System.out.println(line);
        System.out.println(table());
        if (!o.str("out").isEmpty()) {
            Files.writeString(Path.of(o.str("out")), line + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        return status;
    }

    private String createKey() throws IOException, InterruptedException {
        String admin = o.str("admin-key");
        if (admin.isEmpty()) {
            throw new IllegalArgumentException("--admin-key is required");
        }
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpRequest req = HttpRequest.newBuilder(URI.create(o.str("url").split(",")[0].trim() + "/v1/keys"))
                    .header("Authorization", "Bearer " + admin)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(
                            "{\"name\":\"bench-" + System.currentTimeMillis() + "\",\"tables\":[\"*\"]}"))
                    .timeout(Duration.ofSeconds(10))
                    .build();
            HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
            Matcher m = KEY.matcher(res.body());
            if (res.statusCode() != 201 || !m.find()) {
                throw new IllegalStateException("POST /v1/keys answered " + res.statusCode() + ": " + res.body());
            }
            return m.group(1);
        }
    }

    private Connection monitor() throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", o.str("db-user"));
        p.setProperty("password", o.str("db-password"));
        p.setProperty("ApplicationName", "cdc-bench-monitor");
        return DriverManager.getConnection(o.str("db"), p);
    }

    private static long maxOutboxId(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT coalesce(max(id), 0) FROM cdc.outbox")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private ExecutorService executor(String name) {
        return Executors.newFixedThreadPool(o.integer("io-threads"), new ThreadFactory() {
            private int n;

            @Override
            public synchronized Thread newThread(Runnable r) {
                return Thread.ofPlatform().name(name + "-" + n++).daemon().unstarted(r);
            }
        });
    }

    /**
     * What the outbox holds past the base id, per table: each row's id, customer ({@code payload.cust}, -1 when
     * absent), operation ({@link ClientFilter#operationCode}) and whether it was created in the window.
     */
    private record Committed(Rows[] tables, long total, long inWindow) {
        record Rows(long[] ids, int[] customers, int[] operations, boolean[] inWindow) {
        }
    }

    private static Committed committed(Connection c, long baseId, String prefix, int tables, long windowStart,
                                       long windowEnd) throws SQLException {
        List<List<long[]>> rows = new ArrayList<>();
        for (int i = 0; i < tables; i++) {
            rows.add(new ArrayList<>());
        }
        long total = 0;
        long inWindow = 0;
        try (PreparedStatement st = c.prepareStatement(
                "SELECT table_name, id, (extract(epoch FROM created_at) * 1000000)::bigint, operation, "
                + "coalesce((payload->>'cust')::int, -1) FROM cdc.outbox WHERE id > ? ORDER BY id")) {
            st.setLong(1, baseId);
            st.setFetchSize(10_000);
            c.setAutoCommit(false); // a cursor, so a large outbox streams
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    String name = rs.getString(1);
                    if (!name.startsWith(prefix)) {
                        continue;
                    }
                    int t;
                    try {
                        t = Integer.parseInt(name.substring(prefix.length()));
                    } catch (NumberFormatException e) {
                        continue;
                    }
                    if (t < 0 || t >= tables) {
                        continue;
                    }
                    long created = rs.getLong(3);
                    boolean in = created >= windowStart && created < windowEnd;
                    rows.get(t).add(new long[] {rs.getLong(2), rs.getInt(5), ClientFilter.operationCode(rs.getString(4)),
                                                in ? 1 : 0});
                    total++;
                    inWindow += in ? 1 : 0;
                }
            }
            c.commit();
            c.setAutoCommit(true);
        }
        Committed.Rows[] out = new Committed.Rows[tables];
        for (int i = 0; i < tables; i++) {
            List<long[]> r = rows.get(i);
            long[] ids = new long[r.size()];
            int[] customers = new int[r.size()];
            int[] operations = new int[r.size()];
            boolean[] in = new boolean[r.size()];
            for (int k = 0; k < r.size(); k++) {
                long[] row = r.get(k);
                ids[k] = row[0];
                customers[k] = (int) row[1];
                operations[k] = (int) row[2];
                in[k] = row[3] == 1;
            }
            out[i] = new Committed.Rows(ids, customers, operations, in);
        }
        return new Committed(out, total, inWindow);
    }

    // ---- resources ----

    private record Sample(long nanos, double machineBusy, double driverCpu, double serverCpu, double[] serverCpus,
                          Map<Long, Double> postgres, Map<Long, String> roles, double nats, long[] outboxScans) {
    }

    private Sample sample(Connection monitor) {
        double[] each = new double[serverPids.length];
        double sum = serverPids.length > 0 ? 0 : -1;
        for (int i = 0; i < serverPids.length; i++) {
            each[i] = Resources.cpuSeconds(serverPids[i]);
            sum += Math.max(0, each[i]);
        }
        return new Sample(System.nanoTime(), Resources.machineBusySeconds(), Resources.driverCpuSeconds(),
                          sum, each, Resources.postgresCpu(), Resources.postgresRoles(monitor),
                          Resources.processCpu("nats-server"), Resources.outboxScans(monitor));
    }

    /** Sleeps until {@code endMicros}, sampling the service's RSS each second; returns the peak seen, kB. */
    private long peakRssUntil(long endMicros) throws InterruptedException {
        long peak = -1;
        while (true) {
            if (serverPid > 0) {
                long rss = 0;
                for (long pid : serverPids) {
                    rss += Math.max(0, Resources.statusKb(pid, "VmRSS"));
                }
                peak = Math.max(peak, rss);
            }
            long left = endMicros - Events.nowMicros();
            if (left <= 0) {
                return peak;
            }
            Thread.sleep(Math.min(1_000, Math.max(1, left / 1000)));
        }
    }

    private Map<String, Object> resources(Sample a, Sample b, double seconds, long peakRss, long windowEvents,
                                          long windowDeliveries) {
        Map<String, Object> r = new LinkedHashMap<>();
        double wall = (b.nanos - a.nanos) / 1e9;
        r.put("window_seconds", wall);
        r.put("driver_cpu_s", b.driverCpu - a.driverCpu);
        r.put("driver_cpu_pct", 100 * (b.driverCpu - a.driverCpu) / wall);
        if (serverPid > 0) {
            r.put("service_instances", serverPids.length);
            r.put("service_cpu_s", b.serverCpu - a.serverCpu);
            r.put("service_cpu_pct", 100 * (b.serverCpu - a.serverCpu) / wall);
            long rss = 0;
            long threads = 0;
            List<Double> each = new java.util.ArrayList<>();
            for (int i = 0; i < serverPids.length; i++) {
                rss += Math.max(0, Resources.statusKb(serverPids[i], "VmRSS"));
                threads += Math.max(0, Resources.threads(serverPids[i]));
                each.add(100 * (b.serverCpus[i] - a.serverCpus[i]) / wall);
            }
            if (serverPids.length > 1) {
                r.put("service_cpu_pct_each", each);
            }
            r.put("service_rss_kb", rss);
            r.put("service_rss_peak_sampled_kb", peakRss);
            r.put("service_threads", threads);
        }
        if (a.nats >= 0 && b.nats >= 0) {
            r.put("nats_server_cpu_pct", 100 * (b.nats - a.nats) / wall);
        }
        Map<Long, String> roles = new java.util.HashMap<>(a.roles);
        roles.putAll(b.roles);
        Map<String, Double> pg = Resources.postgresDelta(a.postgres, b.postgres, roles);
        Map<String, Object> pgOut = new LinkedHashMap<>();
        pg.forEach((k, v) -> pgOut.put(k + "_cpu_pct", 100 * v / wall));
        r.put("postgres", pgOut);
        // the cost of correctness: PostgreSQL's CPU per event written and per delivery, and how often the
        // outbox was read (index + sequential scans of cdc.outbox, from pg_stat_user_tables: PostgreSQL
        // publishes a busy backend's counts about once a second, so each end may miss up to ~1 s of scans)
        r.put("events_in_window", windowEvents);
        r.put("deliveries_in_window", windowDeliveries);
        if (windowEvents > 0) {
            r.put("postgres_cpu_us_per_event", 1e6 * pg.get("total") / windowEvents);
            r.put("postgres_service_cpu_us_per_event", 1e6 * pg.get("service") / windowEvents);
            r.put("postgres_writer_cpu_us_per_event", 1e6 * pg.get("writer") / windowEvents);
            if (serverPid > 0) {
                r.put("service_cpu_us_per_event", 1e6 * (b.serverCpu - a.serverCpu) / windowEvents);
            }
        }
        if (windowDeliveries > 0) {
            r.put("postgres_cpu_us_per_delivery", 1e6 * pg.get("total") / windowDeliveries);
        }
        if (a.outboxScans != null && b.outboxScans != null) {
            long idx = b.outboxScans[0] - a.outboxScans[0];
            long seq = b.outboxScans[1] - a.outboxScans[1];
            r.put("outbox_index_scans", idx);
            r.put("outbox_seq_scans", seq);
            r.put("outbox_reads_per_s", (idx + seq) / wall);
            if (windowEvents > 0) {
                r.put("outbox_reads_per_event", (idx + seq) / (double) windowEvents);
            }
        }
        // everything else on the machine: other sessions' builds and tests share these cores
        double machine = 100 * (b.machineBusy - a.machineBusy) / wall;
        double nats = a.nats >= 0 && b.nats >= 0 ? b.nats - a.nats : 0; // relay mode's broker (shared with tests)
        double ours = 100 * ((b.driverCpu - a.driverCpu) + Math.max(0, b.serverCpu - a.serverCpu) + pg.get("total")
                             + nats) / wall;
        r.put("machine_busy_pct", machine);
        r.put("machine_capacity_pct", 100 * Runtime.getRuntime().availableProcessors());
        r.put("other_processes_cpu_pct", Math.max(0, machine - ours));
        return r;
    }

    private static void sleepUntil(long micros) throws InterruptedException {
        long left;
        while ((left = micros - Events.nowMicros()) > 0) {
            Thread.sleep(Math.max(1, Math.min(left / 1000, 1000)));
        }
    }

    // ---- the readable table ----

    @SuppressWarnings("unchecked")
    private String table() {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%n== cdc-bench %s %s ==%n", mode, o.str("label")));
        Map<String, Object> clients = (Map<String, Object>) report.get("clients");
        if (clients != null) {
            s.append(String.format(Locale.ROOT, "clients           %s ws (%s) + %s sse (%s) on %s tables, all subscribed in %.1f s%n",
                                   clients.get("websocket"), clients.get("ws_client"), clients.get("sse"),
                                   clients.get("sse_client"), o.str("tables"),
                                   ((Number) clients.get("subscribe_all_seconds")).doubleValue()));
        }
        Map<String, Object> writes = (Map<String, Object>) report.get("writes");
        if (writes != null) {
            s.append(String.format(Locale.ROOT, "writes            %.0f events/s (target %s), %.0f tx/s, batch %s, %s writers, failures %s%n",
                                   num(writes.get("events_per_s")), o.str("rate"), num(writes.get("transactions_per_s")),
                                   o.str("batch"), o.str("writers"), writes.get("failures")));
        }
        Map<String, Object> d = (Map<String, Object>) report.get("deliveries");
        if (d != null) {
            s.append(String.format(Locale.ROOT, "deliveries        %.0f /s in window; expected %s, delivered %s, lost %s, duplicates %s, closed early %s%n",
                                   num(d.get("deliveries_per_s")), d.get("expected"), d.get("delivered"), d.get("lost"),
                                   d.get("duplicates"), d.get("closed_early")));
        }
        Map<String, Object> lat = (Map<String, Object>) report.get("latency");
        if (lat != null) {
            s.append(String.format(Locale.ROOT, "%-22s%8s %8s %8s %8s %8s %8s%n", "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max"));
            for (String k : List.of("total", "websocket", "sse", "total_from_intended", "commit_to_first_client",
                                     "commit_to_last_client")) {
                Map<String, Object> h = (Map<String, Object>) lat.get(k);
                if (h == null || ((Number) h.get("count")).longValue() == 0) {
                    continue;
                }
                s.append(String.format(Locale.ROOT, "  %-20s%8d %8.2f %8.2f %8.2f %8.2f %8.2f%n", k,
                                       ((Number) h.get("count")).longValue(), num(h.get("p50_ms")), num(h.get("p90_ms")),
                                       num(h.get("p99_ms")), num(h.get("p999_ms")), num(h.get("max_ms"))));
            }
            Map<String, Object> late = (Map<String, Object>) writes.get("writer_lateness");
            if (((Number) late.get("count")).longValue() > 0) {
                s.append(String.format(Locale.ROOT, "  %-20s%8d %8.2f %8.2f %8.2f %8.2f %8.2f%n", "writer commit",
                                       ((Number) late.get("count")).longValue(), num(late.get("p50_ms")), num(late.get("p90_ms")),
                                       num(late.get("p99_ms")), num(late.get("p999_ms")), num(late.get("max_ms"))));
            }
        }
        Map<String, Object> conns = (Map<String, Object>) report.get("connections");
        if (conns != null) {
            s.append(String.format(Locale.ROOT, "connections       %s requested, %s subscribed in %.1f s (%.0f/s), %s still open after hold, probe delivered %s%n",
                                   conns.get("requested"), conns.get("subscribed"), num(conns.get("open_seconds")),
                                   num(conns.get("open_per_s")), conns.get("still_open_after_hold"), conns.get("probe_delivered")));
        }
        Map<String, Object> mem = (Map<String, Object>) report.get("memory");
        if (mem != null && mem.containsKey("rss_open_kb")) {
            s.append(String.format(Locale.ROOT, "service memory    RSS %s -> %s kB (%.1f kB/conn), after a full GC %s -> %s kB (%.1f kB/conn), live heap %s -> %s kB (%.1f kB/conn), threads %s -> %s%n",
                                   mem.get("rss_before_kb"), mem.get("rss_open_kb"), num(mem.get("rss_per_connection_kb")),
                                   mem.get("rss_after_gc_before_kb"), mem.get("rss_after_gc_open_kb"),
                                   num(mem.get("rss_after_gc_per_connection_kb")),
                                   mem.get("live_heap_before_kb"), mem.get("live_heap_open_kb"),
                                   num(mem.get("live_heap_per_connection_kb")), mem.get("threads_before"), mem.get("threads_open")));
            if (mem.containsKey("rss_end_kb")) {
                s.append(String.format(Locale.ROOT, "  end of the hold before any GC of ours: RSS %s kB (%.1f kB/conn over the idle %s kB)%n",
                                       mem.get("rss_end_kb"), num(mem.get("rss_end_per_connection_kb")), mem.get("rss_before_kb")));
            }
            if (mem.containsKey("rss_after_gc_held_kb")) {
                s.append(String.format(Locale.ROOT, "  end of the hold after a full GC: RSS %s kB (%.1f kB/conn), live heap %s kB (%.1f kB/conn)%n",
                                       mem.get("rss_after_gc_held_kb"), num(mem.get("rss_after_gc_held_per_connection_kb")),
                                       mem.get("live_heap_held_kb"), num(mem.get("live_heap_held_per_connection_kb"))));
            }
        }
        Map<String, Object> res = (Map<String, Object>) report.get("resources");
        if (res != null) {
            Map<String, Object> pg = (Map<String, Object>) res.get("postgres");
            s.append(String.format(Locale.ROOT, "cpu (%% of a core) machine %.0f of %s busy; driver %.0f, service %s, postgres %.0f (service's backends %.0f, writer's %.0f, other %.0f), other processes %.0f%n",
                                   num(res.get("machine_busy_pct")), res.get("machine_capacity_pct"),
                                   num(res.get("driver_cpu_pct")),
                                   res.containsKey("service_cpu_pct") ? String.format(Locale.ROOT, "%.0f", num(res.get("service_cpu_pct"))) : "n/a",
                                   num(pg.get("total_cpu_pct")), num(pg.get("service_cpu_pct")), num(pg.get("writer_cpu_pct")),
                                   num(pg.get("other_cpu_pct")), num(res.get("other_processes_cpu_pct"))));
            if (res.containsKey("service_rss_kb")) {
                s.append(String.format(Locale.ROOT, "service           RSS %s kB (peak sampled %s kB), %s threads%n",
                                       res.get("service_rss_kb"), res.get("service_rss_peak_sampled_kb"), res.get("service_threads")));
            }
        }
        if (report.containsKey("error")) {
            s.append("ERROR ").append(report.get("error")).append('\n');
        }
        s.append("ok ").append(report.get("ok")).append('\n');
        return s.toString();
    }

    private static double num(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
