package io.cdcnotify.fanout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Relay mode's "done means": three instances in processes of their own on one database and a NATS server of
 * the test's own; 8 writers commit 5,000 events with rollbacks, ids taken before their transaction's xid and
 * long transactions (commits out of id order); WebSocket clients on every instance. The leader is killed with
 * SIGKILL twice (another instance must lead within 5 s; a fresh process replaces the dead one) and NATS is
 * restarted once. Every client must receive every committed event of its tables exactly once, each
 * transaction whole and in commit order, checked against the outbox; a client whose instance was killed
 * resumes on another with its last cursor, and may get again only what the contract allows at that seam.
 * PostgreSQL must see the relay's outbox reads from one instance at a time ({@code pg_stat_activity}, with each
 * instance's {@code application_name}).
 */
class RelayFailoverTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final int TOTAL = 5_000;
    private static final int WRITERS = 8;
    private static final List<String> TABLES = List.of("t0", "t1", "t2", "t3");
    private static final List<List<String>> SUBSCRIPTIONS = List.of(List.of("t0", "t1"), List.of("t1", "t2", "t3"));

    /** A committed transaction: its rows (id → table) in insert order, and when it began and committed. */
    private record Tx(LinkedHashMap<Long, String> rows, long began, long committed) {
    }

    /** A relay outbox read seen in pg_stat_activity: which instance, and when it ended. */
    private record Read(String instance, java.sql.Timestamp at) {
    }

    private final List<ChildInstance> instances = new CopyOnWriteArrayList<>();
    private final AtomicInteger started = new AtomicInteger();

    @Test
    void threeInstancesTwoLeaderKillsAndANatsRestartDeliverEveryEventOnceInOrder() throws Exception {
        try (NatsServer nats = NatsServer.start()) {
            RelayFixture relay = new RelayFixture(nats.url(), RelayFailoverTest.class);
            Map<String, String> settings = new HashMap<>(relay.keys());
            settings.put("cdc.fanout.partition-close-seconds", "60");
            try (Connection setup = DB.connect(); Statement st = setup.createStatement()) {
                st.execute("CREATE TABLE scratch (n int)");
            }
            try {
                for (int i = 0; i < 3; i++) {
                    startInstance(settings);
                }
                for (ChildInstance instance : instances) {
                    instance.awaitHealthy(Duration.ofSeconds(90));
                }
                run(nats, settings);
                assertTheStreamHoldsEachEventOnce(relay);
            } finally {
                for (ChildInstance instance : instances) {
                    instance.close();
                }
            }
        }
    }

    private void run(NatsServer nats, Map<String, String> settings) throws Exception {
        List<Watcher> watchers = new ArrayList<>();
        for (ChildInstance instance : instances) {
            for (List<String> tables : SUBSCRIPTIONS) {
                watchers.add(new Watcher(tables, instance));
            }
        }
        Queue<Tx> committed = new ConcurrentLinkedQueue<>();
        AtomicInteger rows = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Read> reads = new CopyOnWriteArrayList<>();
        Thread sampler = Thread.ofVirtual().name("read-sampler").start(() -> sample(reads, stop));
        List<Thread> writers = new ArrayList<>();
        long began = System.nanoTime();
        for (int w = 0; w < WRITERS; w++) {
            writers.add(Thread.ofVirtual().name("writer-" + w).start(() -> write(committed, rows, stop, failure)));
        }
        List<Long> takeovers = new ArrayList<>();
        boolean firstKill = false;
        boolean natsRestart = false;
        boolean secondKill = false;
        while (rows.get() < TOTAL && failure.get() == null) {
            watchers.forEach(Watcher::poll);
            if (!firstKill && rows.get() >= 1_000) {
                takeovers.add(killLeader(settings));
                firstKill = true;
            } else if (!natsRestart && rows.get() >= 2_500) {
                nats.stop();
                Thread.sleep(1_000);
                nats.startAgain();
                natsRestart = true;
            } else if (!secondKill && rows.get() >= 3_700) {
                takeovers.add(killLeader(settings));
                secondKill = true;
            }
            Thread.sleep(50);
        }
        stop.set(true);
        for (Thread t : writers) {
            t.join(Duration.ofSeconds(30));
        }
        sampler.join(Duration.ofSeconds(5));
        assertThat(failure.get()).isNull();
        assertThat(firstKill && natsRestart && secondKill).isTrue();
        long writing = System.nanoTime() - began;

        // what the outbox holds is what every client must get
        Map<Long, String> outbox = outbox();
        List<Tx> txs = List.copyOf(committed);
        Set<Long> bookkept = new HashSet<>();
        txs.forEach(tx -> bookkept.addAll(tx.rows().keySet()));
        assertThat(outbox.keySet()).isEqualTo(bookkept);
        assertThat(outbox).hasSizeGreaterThanOrEqualTo(TOTAL);

        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline && !watchers.stream().allMatch(w -> w.complete(outbox))) {
            watchers.forEach(Watcher::poll);
            Thread.sleep(100);
        }
        int seamRepeats = 0;
        Map<List<String>, List<Long>> streamOrder = new HashMap<>();
        for (Watcher w : watchers) {
            seamRepeats += w.assertExactlyOnceInOrder(outbox, txs);
            if (w.resumes == 0) {
                List<Long> earlier = streamOrder.putIfAbsent(w.tables, w.ids());
                if (earlier != null) {
                    assertThat(w.ids()).as("every instance delivers the stream's order").isEqualTo(earlier);
                }
            }
            w.client.close();
        }
        assertThat(takeovers).allSatisfy(ms -> assertThat(ms).isLessThanOrEqualTo(5_000L));
        assertOneReaderAtATime(reads);
        System.out.printf("relay failover: %d events in %d ms of writing, take-overs %s ms, %d reads sampled from %s,"
                                  + " %d repeats at resume seams over %d resumes%n",
                          outbox.size(), writing / 1_000_000, takeovers, reads.size(),
                          reads.stream().map(Read::instance).distinct().toList(), seamRepeats,
                          watchers.stream().mapToInt(w -> w.resumes).sum());
    }

    /** The stream itself, not only what clients got (consumers drop repeats), holds every event once. */
    private static void assertTheStreamHoldsEachEventOnce(RelayFixture relay) throws Exception {
        try (io.nats.client.Connection nats = io.nats.client.Nats.connect(relay.url)) {
            long last = nats.jetStreamManagement().getStreamInfo(relay.stream).getStreamState().getLastSequence();
            io.nats.client.JetStreamSubscription sub = nats.jetStream().subscribe(relay.prefix + ".>",
                    io.nats.client.PushSubscribeOptions.builder().stream(relay.stream).ordered(true).build());
            Set<Long> ids = new HashSet<>();
            List<Long> repeated = new ArrayList<>();
            for (long n = 0; n < last; n++) {
                io.nats.client.Message m = sub.nextMessage(Duration.ofSeconds(10));
                assertThat(m).as("stream message %d of %d", n + 1, last).isNotNull();
                long id = new com.fasterxml.jackson.databind.ObjectMapper().readTree(m.getData()).get("id").asLong();
                if (!ids.add(id)) {
                    repeated.add(id);
                }
            }
            assertThat(repeated).as("events the stream holds twice").isEmpty();
        }
    }

    private ChildInstance startInstance(Map<String, String> settings) throws Exception {
        ChildInstance instance = ChildInstance.start("inst-" + started.incrementAndGet(), DB, settings);
        instances.add(instance);
        return instance;
    }

    /** Kills the leader with SIGKILL, starts a replacement, and returns how long until another instance led. */
    private long killLeader(Map<String, String> settings) throws Exception {
        ChildInstance leader = await().atMost(Duration.ofSeconds(15)).until(
                () -> instances.stream().filter(ChildInstance::alive).filter(RelayFailoverTest::leads).findFirst(),
                java.util.Optional::isPresent).orElseThrow();
        leader.kill();
        long killed = System.nanoTime();
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50)).until(
                () -> instances.stream().filter(i -> i != leader && i.alive()).anyMatch(RelayFailoverTest::leads));
        long took = (System.nanoTime() - killed) / 1_000_000;
        startInstance(settings);
        return took;
    }

    private static boolean leads(ChildInstance instance) {
        try {
            Api.Response r = Api.get(instance.http("/v1/state"), CdcServer.ADMIN_KEY);
            return r.status() == 200 && r.json().get("fanout").get("leader").asBoolean();
        } catch (RuntimeException | AssertionError e) { // not listening yet, or gone
            return false;
        }
    }

    /**
     * Two instances never read the outbox for the relay at once: a new reader's first read comes strictly after
     * the old one's last (by more than the 50 ms the sampler may be off; a take-over itself needs the killed
     * leader's backend gone and a follower's next lock attempt, typically 0.5-1 s).
     */
    private static void assertOneReaderAtATime(List<Read> reads) {
        assertThat(reads).isNotEmpty();
        List<Read> sorted = new ArrayList<>(new HashSet<>(reads));
        sorted.sort((x, y) -> x.at().compareTo(y.at()));
        int switches = 0;
        for (int i = 1; i < sorted.size(); i++) {
            Read before = sorted.get(i - 1);
            Read now = sorted.get(i);
            if (!before.instance().equals(now.instance())) {
                switches++;
                assertThat(now.at().getTime() - before.at().getTime())
                        .as("%s read at %s, %s at %s", before.instance(), before.at(), now.instance(), now.at())
                        .isGreaterThan(50);
            }
        }
        assertThat(switches).as("the reader changed at the two kills and perhaps at the NATS restart").isLessThanOrEqualTo(3);
    }

    private static void sample(List<Read> reads, AtomicBoolean stop) {
        try (Connection c = DB.connect();
             PreparedStatement st = c.prepareStatement(
                     "SELECT application_name, state_change FROM pg_stat_activity WHERE datname = current_database()"
                             + " AND application_name LIKE 'inst-%' AND query LIKE '%UNION ALL%'"
                             + " AND query NOT LIKE '%table_name = ANY%' AND state_change IS NOT NULL")) {
            while (!stop.get()) {
                try (ResultSet rs = st.executeQuery()) {
                    while (rs.next()) {
                        reads.add(new Read(rs.getString(1), rs.getTimestamp(2)));
                    }
                }
                Thread.sleep(20);
            }
        } catch (SQLException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Map<Long, String> outbox() throws SQLException {
        Map<Long, String> rows = new HashMap<>();
        try (Connection c = DB.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT id, table_name FROM cdc.outbox")) {
            while (rs.next()) {
                rows.put(rs.getLong(1), rs.getString(2));
            }
        }
        return rows;
    }

    private static void write(Queue<Tx> committed, AtomicInteger count, AtomicBoolean stop,
                              AtomicReference<Throwable> failure) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        try (Connection c = DB.connect()) {
            c.setAutoCommit(false);
            while (!stop.get()) {
                long began = System.nanoTime();
                LinkedHashMap<Long, String> rows = new LinkedHashMap<>();
                int kind = random.nextInt(100);
                if (kind < 10) {
                    // an id from the sequence before the transaction has an xid: it commits after higher ids
                    long id;
                    try (Statement st = c.createStatement();
                         ResultSet rs = st.executeQuery("SELECT nextval(pg_get_serial_sequence('cdc.outbox', 'id'))")) {
                        rs.next();
                        id = rs.getLong(1);
                    }
                    Thread.sleep(random.nextInt(1, 30));
                    try (PreparedStatement st = c.prepareStatement(
                            "INSERT INTO cdc.outbox (id, table_name, operation, payload) VALUES (?, 't0', 'INSERT', '{}')")) {
                        st.setLong(1, id);
                        st.executeUpdate();
                    }
                    rows.put(id, "t0");
                } else if (kind < 20) {
                    try (Statement st = c.createStatement()) {
                        st.execute("INSERT INTO scratch VALUES (1)");
                    }
                }
                int n = random.nextInt(1, 6);
                for (int r = 0; r < n; r++) {
                    String table = TABLES.get(random.nextInt(TABLES.size()));
                    rows.put(Outbox.insert(c, table, "INSERT", "{\"r\": " + r + ", \"w\": \"" + Thread.currentThread().getName() + "\"}"), table);
                    if (kind >= 97) {
                        Thread.sleep(random.nextInt(200, 800)); // a long transaction
                    }
                }
                if (random.nextInt(10) == 0) {
                    c.rollback();
                } else {
                    c.commit();
                    committed.add(new Tx(rows, began, System.nanoTime()));
                    count.addAndGet(rows.size());
                }
                Thread.sleep(random.nextInt(0, 12));
            }
        } catch (Throwable t) {
            failure.compareAndSet(null, t);
        }
    }

    /** One client: follows its instance, and resumes on a live one with its last cursor when that instance dies. */
    private final class Watcher {
        final List<String> tables;
        WsTestClient client;
        int resumes;
        private final List<Long> received = new ArrayList<>();
        /** Indexes in {@link #received} where a resume began. */
        private final List<Integer> seams = new ArrayList<>();
        private String cursor;

        Watcher(List<String> tables, ChildInstance on) {
            this.tables = tables;
            this.client = connect(on, null);
        }

        private WsTestClient connect(ChildInstance on, String from) {
            WsTestClient c = WsTestClient.connect(on.ws("/v1/ws"), Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY));
            c.expect("auth_ok");
            Map<String, Object> subscribe = new HashMap<>(Map.of("type", "subscribe", "request_id", "r", "tables", tables));
            if (from != null) {
                subscribe.put("resume_from", from);
            }
            c.send(subscribe);
            c.expect("subscribed");
            return c;
        }

        void poll() {
            for (JsonNode m : client.drain()) {
                if ("cdc_event".equals(m.path("type").asText())) {
                    received.add(m.get("event").get("id").asLong());
                    cursor = m.get("event").get("cursor").asText();
                }
            }
            if (client.closeFuture().isDone()) {
                ChildInstance to = instances.stream().filter(ChildInstance::alive).filter(i -> i.health() == 200)
                        .findFirst().orElse(null);
                if (to != null) {
                    seams.add(received.size());
                    resumes++;
                    client = connect(to, cursor);
                }
            }
        }

        List<Long> ids() {
            return received;
        }

        boolean complete(Map<Long, String> outbox) {
            Set<Long> wanted = wanted(outbox);
            return new HashSet<>(received).containsAll(wanted);
        }

        private Set<Long> wanted(Map<Long, String> outbox) {
            Set<Long> wanted = new HashSet<>();
            outbox.forEach((id, table) -> {
                if (tables.contains(table)) {
                    wanted.add(id);
                }
            });
            return wanted;
        }

        /** Returns how many events came again right after a resume (the contract allows those only). */
        int assertExactlyOnceInOrder(Map<Long, String> outbox, List<Tx> txs) {
            List<Long> once = new ArrayList<>();
            Set<Long> seen = new HashSet<>();
            int repeats = 0;
            int seam = -1;
            for (int i = 0; i < received.size(); i++) {
                if (seams.contains(i)) {
                    seam = i;
                }
                long id = received.get(i);
                if (!seen.add(id)) {
                    assertThat(seam).as("%s: event %d came twice on one connection", tables, id).isGreaterThanOrEqualTo(0);
                    assertThat(received.subList(seam, i)).as("%s: %d repeated after other events", tables, id)
                            .allMatch(seen::contains);
                    repeats++;
                    continue;
                }
                once.add(id);
            }
            Set<Long> wanted = wanted(outbox);
            List<Long> missing = wanted.stream().filter(id -> !seen.contains(id)).sorted().toList();
            List<Long> foreign = seen.stream().filter(id -> !wanted.contains(id)).sorted().toList();
            String story = "%s: %d received, %d resumes at %s".formatted(tables, received.size(), resumes, seams);
            assertThat(missing).as("%s: committed events of its tables never received", story).isEmpty();
            assertThat(foreign).as("%s: events received that are not of its tables", story).isEmpty();
            Map<Long, Integer> position = new HashMap<>();
            for (int i = 0; i < once.size(); i++) {
                position.put(once.get(i), i);
            }
            List<Tx> mine = new ArrayList<>();
            for (Tx tx : txs) {
                List<Long> ids = tx.rows().entrySet().stream().filter(e -> tables.contains(e.getValue()))
                        .map(Map.Entry::getKey).toList();
                if (!ids.isEmpty()) {
                    int first = position.get(ids.getFirst());
                    for (int k = 0; k < ids.size(); k++) {
                        assertThat(position.get(ids.get(k))).as("%s: row %d of transaction %s", tables, k, ids).isEqualTo(first + k);
                    }
                    mine.add(tx);
                }
            }
            List<Tx> byCommit = new ArrayList<>(mine);
            byCommit.sort((x, y) -> Long.compare(x.committed(), y.committed()));
            for (Tx later : mine) {
                long laterFirst = position.get(firstOf(later));
                for (Tx earlier : byCommit) {
                    if (earlier.committed() >= later.began()) {
                        break;
                    }
                    assertThat((long) position.get(firstOf(earlier))).as("%s: committed before the other began", tables)
                            .isLessThan(laterFirst);
                }
            }
            return repeats;
        }

        private long firstOf(Tx tx) {
            return tx.rows().entrySet().stream().filter(e -> tables.contains(e.getValue())).findFirst().orElseThrow().getKey();
        }
    }
}
