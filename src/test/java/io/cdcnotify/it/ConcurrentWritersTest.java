package io.cdcnotify.it;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Listener;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The randomised check of {@code docs/design/delivery.md}, against the real service: many writers commit and
 * roll back transactions of one to five rows, some taking their ids with {@code nextval} before they have a
 * transaction id, some writing elsewhere first, some staying open for seconds; an unrelated transaction stays
 * open throughout; the listener's connection is killed midway; clients resume from random cursors. Live clients
 * must get every committed row exactly once, transactions whole and in id order, a transaction that committed
 * before another began first; resumed clients must lose nothing after their cursor.
 */
class ConcurrentWritersTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.ownServers();
    private static final TestDatabase DB = CDC.db();

    private static final int WRITERS = 8;
    private static final Duration RUN = Duration.ofSeconds(12);
    private static final List<String> TABLES = List.of("t0", "t1", "t2", "t3");

    /** A committed transaction: its rows' ids in insert order, and when it began and committed (nanoTime). */
    private record Tx(List<Long> ids, long began, long committed) {
    }

    @Test
    void everyCommittedRowArrivesOnceInTransactionAndCommitOrder() throws Exception {
        try (CdcServer server = CDC.start(Map.of())) {
            try (Connection setup = DB.connect(); Statement st = setup.createStatement()) {
                st.execute("CREATE TABLE scratch (n int)");
            }
            Queue<Tx> committed = new ConcurrentLinkedQueue<>();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            try (WsTestClient ws = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY);
                 SseTestClient sse = SseTestClient.subscribed(server, CdcServer.ADMIN_KEY, "*");
                 Connection unrelated = DB.connect()) {
                ws.subscribe("all", List.of("*"));
                unrelated.setAutoCommit(false);
                try (Statement st = unrelated.createStatement()) {
                    st.execute("INSERT INTO scratch VALUES (-1)"); // holds an xid for the whole run
                }
                List<Thread> writers = new ArrayList<>();
                for (int w = 0; w < WRITERS; w++) {
                    writers.add(Thread.ofVirtual().name("writer-" + w).start(() -> write(committed, stop, failure)));
                }
                List<JsonNode> live = new ArrayList<>();
                List<Resume> resumes = new ArrayList<>();
                long end = System.nanoTime() + RUN.toNanos();
                boolean killed = false;
                while (System.nanoTime() < end) {
                    collect(ws, live, Duration.ofMillis(500));
                    if (!killed && System.nanoTime() > end - RUN.toNanos() / 2) {
                        Listener.kill(DB);
                        killed = true;
                    }
                    if (!live.isEmpty() && resumes.size() < 8) {
                        JsonNode from = live.get(ThreadLocalRandom.current().nextInt(live.size()));
                        resumes.add(new Resume(server, from, live.indexOf(from)));
                    }
                }
                stop.set(true);
                for (Thread t : writers) {
                    t.join(Duration.ofSeconds(30));
                }
                unrelated.rollback();
                assertThat(failure.get()).isNull();

                Set<Long> expected = new HashSet<>();
                committed.forEach(tx -> expected.addAll(tx.ids()));
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (live.size() < expected.size() && System.nanoTime() < deadline) {
                    collect(ws, live, Duration.ofMillis(200));
                }
                List<Long> liveIds = live.stream().map(e -> e.get("id").asLong()).toList();
                List<Long> sseIds = sse.events(expected.size(), Duration.ofSeconds(60)).stream()
                        .map(e -> e.json().get("id").asLong()).toList();

                assertThat(expected).hasSizeGreaterThan(500);
                assertThat(liveIds).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(expected);
                assertThat(sseIds).containsExactlyElementsOf(liveIds);
                assertTransactionsWholeAndOrdered(List.copyOf(committed), liveIds);
                for (Resume r : resumes) {
                    r.assertLostNothing(liveIds);
                }
            }
        }
    }

    /** Rows of a transaction are consecutive and in id order; a transaction that committed before another began comes first. */
    private static void assertTransactionsWholeAndOrdered(List<Tx> txs, List<Long> received) {
        Map<Long, Integer> position = new HashMap<>();
        for (int i = 0; i < received.size(); i++) {
            position.put(received.get(i), i);
        }
        for (Tx tx : txs) {
            int first = position.get(tx.ids().getFirst());
            for (int i = 0; i < tx.ids().size(); i++) {
                assertThat(position.get(tx.ids().get(i))).as("row %d of transaction %s", i, tx.ids()).isEqualTo(first + i);
            }
        }
        List<Tx> byCommit = new ArrayList<>(txs);
        byCommit.sort((a, b) -> Long.compare(a.committed(), b.committed()));
        for (Tx later : txs) {
            for (Tx earlier : byCommit) {
                if (earlier.committed() >= later.began()) {
                    break;
                }
                assertThat(position.get(earlier.ids().getFirst()))
                        .as("%s committed before %s began", earlier.ids(), later.ids())
                        .isLessThan(position.get(later.ids().getFirst()));
            }
        }
    }

    private static void collect(WsTestClient ws, List<JsonNode> into, Duration wait) {
        Optional<JsonNode> first = ws.poll(wait);
        if (first.isEmpty()) {
            return;
        }
        into.add(first.get().get("event"));
        for (JsonNode m : ws.drain()) {
            into.add(m.get("event"));
        }
    }

    private static void write(Queue<Tx> committed, AtomicBoolean stop, AtomicReference<Throwable> failure) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        try (Connection c = DB.connect()) {
            c.setAutoCommit(false);
            while (!stop.get()) {
                long began = System.nanoTime();
                List<Long> ids = new ArrayList<>();
                int kind = random.nextInt(100);
                if (kind < 10) {
                    // an id from the sequence before the transaction has an xid: it may commit long after
                    long id = nextval(c);
                    pause(random.nextInt(1, 50));
                    insertWithId(c, id);
                    ids.add(id);
                } else if (kind < 20) {
                    try (Statement st = c.createStatement()) {
                        st.execute("INSERT INTO scratch VALUES (1)");
                    }
                    pause(random.nextInt(1, 20));
                }
                int rows = random.nextInt(1, 6);
                for (int r = 0; r < rows; r++) {
                    ids.add(Outbox.insert(c, TABLES.get(random.nextInt(TABLES.size())), "INSERT", "{\"r\":" + r + "}"));
                    if (kind >= 95) {
                        pause(random.nextInt(300, 1500)); // a long transaction
                    }
                }
                if (random.nextInt(10) == 0) {
                    c.rollback();
                } else {
                    c.commit();
                    committed.add(new Tx(ids, began, System.nanoTime()));
                }
            }
        } catch (Throwable t) {
            failure.compareAndSet(null, t);
        }
    }

    private static long nextval(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT nextval(pg_get_serial_sequence('cdc.outbox', 'id'))")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void insertWithId(Connection c, long id) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(
                "INSERT INTO cdc.outbox (id, table_name, operation, payload) VALUES (?, 't0', 'INSERT', '{}')")) {
            st.setLong(1, id);
            st.executeUpdate();
        }
    }

    private static void pause(int millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A client that resumed from the cursor of the live stream's event at {@code index}. */
    private static final class Resume {
        private static final AtomicInteger COUNT = new AtomicInteger();
        private final WsTestClient client;
        private final int index;

        Resume(CdcServer server, JsonNode from, int index) {
            this.index = index;
            this.client = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY);
            client.send(Map.of("type", "subscribe", "request_id", "resume-" + COUNT.incrementAndGet(),
                               "tables", List.of("*"), "resume_from", from.get("cursor").asText()));
            client.expect("subscribed");
        }

        /** Everything the live stream got after the cursor's event reached this client too, once. */
        void assertLostNothing(List<Long> live) {
            Set<Long> wanted = new HashSet<>(live.subList(index + 1, live.size()));
            List<Long> got = new ArrayList<>();
            try (client) {
                await().atMost(Duration.ofSeconds(60)).pollDelay(Duration.ZERO).until(() -> {
                    for (JsonNode m : client.drain()) {
                        got.add(m.get("event").get("id").asLong());
                    }
                    return got.containsAll(wanted);
                });
            }
            assertThat(got).doesNotHaveDuplicates();
        }
    }
}
