package io.cdcnotify.fanout;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The database's read work against the number of instances, in database mode and in relay mode: not a test
 * (it asserts nothing), a measurement for {@code docs/benchmarks.md}. Run with
 * {@code ./mvnw -B -o test -Dtest=ReadCostMeasurement -Dcdc.measure=true -Djacoco.skip=true -Dexec.skip=true}.
 * Instances run in this JVM; only PostgreSQL's side is measured: outbox index scans (two per page read) from
 * {@code pg_stat_user_tables}, and the CPU of this database's backends from {@code /proc/<pid>/stat}.
 */
@EnabledIfSystemProperty(named = "cdc.measure", matches = "true")
class ReadCostMeasurement {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final int CLIENTS = Integer.getInteger("cdc.measure.clients", 200);
    private static final int TABLES = 20;
    private static final int RATE = Integer.getInteger("cdc.measure.rate", 300);
    private static final Duration RUN = Duration.ofSeconds(Integer.getInteger("cdc.measure.seconds", 15));

    @Test
    void readWorkAgainstInstances() throws Exception {
        List<String> lines = new ArrayList<>();
        for (String run : System.getProperty("cdc.measure.runs", "database:1,database:2,database:4,nats:1,nats:2,nats:4")
                .split(",")) {
            String[] modeAndCount = run.split(":");
            lines.add(measure(modeAndCount[0], Integer.parseInt(modeAndCount[1])));
            System.out.println(lines.getLast());
        }
        Files.write(Path.of("target", "read-cost.txt"), lines);
    }

    private String measure(String mode, int instances) throws Exception {
        RelayFixture relay = new RelayFixture(RelayFixture.SHARED_NATS, ReadCostMeasurement.class);
        Map<String, String> keys = new HashMap<>(mode.equals("nats") ? relay.keys() : Map.of());
        keys.put("cdc.limits.max-subscriptions-per-key", "1000000"); // every WebSocket subscribe is durable
        List<CdcServer> servers = new ArrayList<>();
        List<WsTestClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < instances; i++) {
                servers.add(CdcServer.start(DB, keys));
            }
            for (int c = 0; c < CLIENTS; c++) {
                WsTestClient client = WsTestClient.authenticated(servers.get(c % instances), CdcServer.ADMIN_KEY);
                client.subscribe("r", List.of("m" + (c % TABLES)));
                clients.add(client);
            }
            Thread.sleep(11_000); // leadership settles; idle backends flush their table statistics within 10 s
            long scans0 = outboxScans();
            long cpu0 = backendCpuTicks();
            double load0 = load();
            AtomicLong written = new AtomicLong();
            long start = System.nanoTime();
            try (Connection writer = DB.connect()) {
                long interval = 1_000_000_000L / RATE;
                long next = start;
                while (System.nanoTime() - start < RUN.toNanos()) {
                    Outbox.insert(writer, "m" + ThreadLocalRandom.current().nextInt(TABLES), "INSERT", "{\"v\": 1}");
                    written.incrementAndGet();
                    next += interval;
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            long cpuEnd = backendCpuTicks();
            Thread.sleep(11_000); // the reads of the last seconds reach pg_stat_user_tables
            long scans = outboxScans() - scans0;
            long cpu = cpuEnd - cpu0;
            long delivered = 0;
            for (WsTestClient c : clients) {
                for (JsonNode m : c.drain()) {
                    if ("cdc_event".equals(m.path("type").asText())) {
                        delivered++;
                    }
                }
            }
            long ticksPerSecond = 100; // USER_HZ
            return String.format("mode=%s instances=%d written=%d delivered=%d seconds=%.1f outbox_reads_per_s=%.1f"
                                         + " pg_cpu_ms=%d pg_cpu_us_per_delivered=%.1f pg_cpu_us_per_written=%.1f load=%.1f-%.1f",
                                 mode, instances, written.get(), delivered, seconds, scans / 2.0 / seconds,
                                 cpu * 1000 / ticksPerSecond, cpu * 1e6 / ticksPerSecond / Math.max(1, delivered),
                                 cpu * 1e6 / ticksPerSecond / Math.max(1, written.get()), load0, load());
        } finally {
            clients.forEach(WsTestClient::close);
            servers.forEach(CdcServer::close);
            relay.deleteStream();
        }
    }

    private static long outboxScans() throws SQLException {
        try (Connection c = DB.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM pg_stat_user_tables"
                                                    + " WHERE schemaname = 'cdc' AND relname = 'outbox'")) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }

    /** utime + stime of this database's backends, in clock ticks. */
    private static long backendCpuTicks() throws Exception {
        long total = 0;
        List<Integer> pids = new ArrayList<>();
        try (Connection c = DB.connect();
             PreparedStatement st = c.prepareStatement("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                                               + " AND pid <> pg_backend_pid()");
             ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                pids.add(rs.getInt(1));
            }
        }
        for (int pid : pids) {
            try {
                String stat = Files.readString(Path.of("/proc", Integer.toString(pid), "stat"));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                total += Long.parseLong(f[11]) + Long.parseLong(f[12]);
            } catch (java.io.IOException gone) {
                // the backend ended
            }
        }
        return total;
    }

    private static double load() throws Exception {
        return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
    }
}
