package io.cdcnotify.bench;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Inserts events into {@code cdc.outbox} over several JDBC connections, {@code batch} rows per transaction (one
 * multi-row INSERT in autocommit), at {@code rate} events/s or as fast as it can ({@code rate} 0).
 *
 * <p>Paced by intended time, not by "sleep after each": transaction {@code k} is due at {@code t0 + k·batch/rate},
 * whichever connection takes it, and one that is late goes at once. Each payload carries its intended time
 * ({@code t}, epoch micros), so the report can also time events from when they should have been written: a
 * writer that falls behind shows there instead of silently slowing the load (no coordinated omission).
 */
final class Writer {

    private final String url;
    private final Properties props;
    private final int connections;
    private final int rate;
    private final int batch;
    private final int tables;
    private final String tablePrefix;
    private final String pad;
    /** Filtered runs: payloads carry {@code cust} and operations vary (see {@link ClientFilter}). */
    private final boolean customers;
    private final AtomicLong next = new AtomicLong();
    private final LongAdder transactions = new LongAdder();
    private final LongAdder rows = new LongAdder();
    private final LongAdder failures = new LongAdder();
    /** Commit done − intended start, microseconds: how far behind schedule the writer ran. */
    private final Recorder lateness = new Recorder(1, 3_600_000_000L, 3);
    private final List<Thread> threads = new ArrayList<>();
    private final Stats.Timeline timeline;
    private volatile boolean running;
    private volatile String firstFailure;
    private long t0;

    Writer(String url, String user, String password, int connections, int rate, int batch, int tables,
           String tablePrefix, int payloadBytes, String syncCommit, boolean customers, Stats.Timeline timeline) {
        this.customers = customers;
        this.timeline = timeline;
        this.url = url;
        this.props = new Properties();
        props.setProperty("user", user);
        props.setProperty("password", password);
        props.setProperty("ApplicationName", "cdc-bench-writer");
        props.setProperty("options", "-c synchronous_commit=" + syncCommit);
        this.connections = connections;
        this.rate = rate;
        this.batch = batch;
        this.tables = tables;
        this.tablePrefix = tablePrefix;
        this.pad = "x".repeat(Math.max(0, payloadBytes));
    }

    /** Opens the connections, then starts writing. */
    void start() throws SQLException {
        List<Connection> opened = new ArrayList<>();
        for (int i = 0; i < connections; i++) {
            Connection c = DriverManager.getConnection(url, props);
            c.setAutoCommit(true);
            opened.add(c);
        }
        running = true;
        t0 = System.nanoTime();
        for (int i = 0; i < connections; i++) {
            Connection c = opened.get(i);
            int w = i;
            Thread t = Thread.ofPlatform().name("writer-" + i).daemon().start(() -> write(c, w));
            threads.add(t);
        }
    }

    void stop() throws InterruptedException {
        running = false;
        for (Thread t : threads) {
            t.join(30_000);
        }
    }

    long transactions() {
        return transactions.sum();
    }

    long rows() {
        return rows.sum();
    }

    long failures() {
        return failures.sum();
    }

    String firstFailure() {
        return firstFailure;
    }

    Histogram lateness() {
        return lateness.getIntervalHistogram();
    }

    private void write(Connection c, int w) {
        StringBuilder sql = new StringBuilder("INSERT INTO cdc.outbox (table_name, operation, payload) VALUES ");
        for (int i = 0; i < batch; i++) {
            sql.append(i == 0 ? "" : ", ").append("(?, ?, ?::jsonb)");
        }
        long interval = rate > 0 ? Math.round(batch * 1e9 / rate) : 0;
        try (c; PreparedStatement st = c.prepareStatement(sql.toString())) {
            StringBuilder payload = new StringBuilder(64 + pad.length());
            while (running) {
                long k = next.getAndIncrement();
                long intended;
                if (rate > 0) {
                    intended = t0 + k * interval;
                    long wait;
                    while ((wait = intended - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(wait);
                        if (!running) {
                            return;
                        }
                    }
                } else {
                    intended = System.nanoTime();
                }
                long intendedMicros = Events.nanoToEpochMicros(intended);
                for (int i = 0; i < batch; i++) {
                    long seq = k * batch + i;
                    payload.setLength(0);
                    payload.append("{\"t\":").append(intendedMicros).append(",\"w\":").append(w)
                            .append(",\"seq\":").append(seq);
                    if (customers) {
                        payload.append(",\"cust\":").append(seq % ClientFilter.CUSTOMERS);
                    }
                    if (!pad.isEmpty()) {
                        payload.append(",\"pad\":\"").append(pad).append('"');
                    }
                    payload.append('}');
                    st.setString(3 * i + 1, tablePrefix + (seq % tables));
                    st.setString(3 * i + 2, customers ? ClientFilter.operationName(ClientFilter.operation(seq)) : "INSERT");
                    st.setString(3 * i + 3, payload.toString());
                }
                try {
                    st.executeUpdate();
                    long done = System.nanoTime();
                    for (int i = 0; i < batch; i++) {
                        timeline.committed(k * batch + i, done);
                    }
                    transactions.increment();
                    rows.add(batch);
                    lateness.recordValue(Math.max(0, (done - intended) / 1_000));
                } catch (SQLException e) {
                    failures.increment();
                    if (firstFailure == null) {
                        firstFailure = e.getMessage();
                    }
                }
            }
        } catch (SQLException e) {
            failures.increment();
            if (firstFailure == null) {
                firstFailure = e.getMessage();
            }
        }
    }
}
