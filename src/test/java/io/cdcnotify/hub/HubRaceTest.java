package io.cdcnotify.hub;

import static io.cdcnotify.hub.HubFixtures.attach;
import static io.cdcnotify.hub.HubFixtures.event;
import static io.cdcnotify.hub.HubFixtures.start;
import static io.cdcnotify.hub.HubFixtures.sync;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

import io.cdcnotify.hub.HubFixtures.CountingMetrics;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * In the spirit of HikariCP's {@code ConnectionRaceConditionTest}: hammer the hot path from many threads while
 * clients attach, detach and close, then check that nothing failed and that every client that stayed attached
 * got every event of its tables, in order, once.
 */
@Timeout(180)
class HubRaceTest {

    private static final String[] TABLES = {"t0", "t1", "t2", "t3"};
    private static final int PUBLISHERS = 3;
    /**
     * Each publisher publishes at least this many events, and goes on, a hundred events per client that comes
     * and goes, until {@link #CHURNS} clients have.
     */
    private static final int EVENTS_PER_PUBLISHER = 3_000;
    private static final int CHURNS = 200;
    private static final int CHURNERS = 4;
    private static final long PUBLISHER_STRIDE = 10_000_000L;

    private record Connection(Client client, RecordingTransport transport, String subscriptionId) {
    }

    @Test
    void publishingWhileClientsComeAndGoLosesNothingForTheAttached() throws Exception {
        Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = HubFixtures.hub(1_000_000, 500, 1L << 24, metrics);

        // clients that stay attached throughout: one per table, and one for every table
        List<Connection> stable = new ArrayList<>();
        List<String> stableTables = new ArrayList<>(List.of(TABLES));
        stableTables.add(Subscription.EVERY_TABLE);
        for (String table : stableTables) {
            Subscription s = hub.subscribe("stable-" + table, "k", List.of(table), true);
            RecordingTransport t = new RecordingTransport();
            Client c = hub.connect("stable-c-" + table, "k", t, 1_000).orElseThrow();
            start(c, escaped);
            attach(c, t, s);
            stable.add(new Connection(c, t, s.id()));
        }
        // durable subscriptions that churning clients attach to and leave, so they queue and hand over
        List<Subscription> shared = List.of(hub.subscribe("shared-t0", "k", List.of("t0"), true),
                                            hub.subscribe("shared-every", "k", List.of("*"), true));

        CountDownLatch go = new CountDownLatch(1);
        AtomicBoolean publishing = new AtomicBoolean(true);
        AtomicInteger churns = new AtomicInteger();
        Queue<Connection> churned = new ConcurrentLinkedQueue<>();
        AtomicIntegerArray published = new AtomicIntegerArray(PUBLISHERS);

        List<Thread> publishers = new ArrayList<>();
        for (int p = 0; p < PUBLISHERS; p++) {
            int publisher = p;
            publishers.add(Thread.ofPlatform().name("publisher-" + p).start(() -> {
                try {
                    go.await();
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                    int seq = 1;
                    while ((seq <= EVENTS_PER_PUBLISHER || churns.get() < CHURNS) && System.nanoTime() < deadline) {
                        if (seq > EVENTS_PER_PUBLISHER + 100 * churns.get()) {
                            LockSupport.parkNanos(100_000); // let the clients come and go in step with the events
                            continue;
                        }
                        int n = random.nextInt(1, 9);
                        List<OutboxEvent> batch = new ArrayList<>(n);
                        for (int i = 0; i < n; i++, seq++) {
                            batch.add(event(id(publisher, seq), table(publisher, seq)));
                        }
                        hub.publish(batch);
                        published.set(publisher, seq - 1);
                        if (random.nextInt(20) == 0) {
                            Thread.yield();
                        }
                    }
                } catch (Throwable e) {
                    escaped.add(e);
                }
            }));
        }

        List<Thread> churners = new ArrayList<>();
        for (int w = 0; w < CHURNERS; w++) {
            int churner = w;
            churners.add(Thread.ofPlatform().name("churner-" + w).start(() -> {
                try {
                    go.await();
                    ThreadLocalRandom random = ThreadLocalRandom.current();
                    for (int n = 0; publishing.get(); n++) {
                        String id = "churn-" + churner + "-" + n;
                        RecordingTransport t = random.nextInt(4) == 0 ? RecordingTransport.sse() : new RecordingTransport();
                        Client c = hub.connect(id, "churn", t, 1_000_000).orElseThrow();
                        start(c, escaped);
                        Subscription target = switch (random.nextInt(4)) {
                            case 0 -> shared.get(0);
                            case 1 -> shared.get(1);
                            case 2 -> hub.subscription(stable.get(random.nextInt(stable.size())).subscriptionId())
                                    .orElseThrow();
                            default -> hub.subscribe("own-" + id, "churn", List.of(TABLES[random.nextInt(4)]), false);
                        };
                        attach(c, t, target);
                        churned.add(new Connection(c, t, target.id()));
                        for (int spin = random.nextInt(300); spin > 0; spin--) {
                            Thread.onSpinWait();
                        }
                        switch (random.nextInt(target == shared.get(1) ? 4 : 5)) {
                            case 0 -> c.detach(target.id(), Optional.of(new Message.Unsubscribed(Optional.of(id), target.id())));
                            case 1 -> c.close(Disconnect.GONE);
                            case 2 -> c.closeAfterQueued(Disconnect.limit("test"));
                            case 3 -> {
                                if (!target.durable()) {
                                    hub.end(target);
                                } else {
                                    c.close(Disconnect.SHUTDOWN);
                                }
                            }
                            default -> {
                                // stays attached until the end
                            }
                        }
                        churns.incrementAndGet();
                    }
                } catch (Throwable e) {
                    escaped.add(e);
                }
            }));
        }

        go.countDown();
        for (Thread p : publishers) {
            assertThat(p.join(Duration.ofSeconds(60))).as(p.getName() + " finished").isTrue();
        }
        publishing.set(false);
        for (Thread c : churners) {
            assertThat(c.join(Duration.ofSeconds(60))).as(c.getName() + " finished").isTrue();
        }
        HubFixtures.assertNoneEscaped(escaped);
        assertThat(churns.get()).as("clients came and went while events flowed").isGreaterThanOrEqualTo(CHURNS);

        // every client that stayed attached got all its events, in each publisher's order, once
        for (Connection s : stable) {
            String table = s.subscriptionId().substring("stable-".length());
            Map<Integer, List<Integer>> expected = expected(table, published);
            int total = expected.values().stream().mapToInt(List::size).sum();
            await().atMost(Duration.ofSeconds(30)).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(2)).until(() -> s.transport().eventIds().size() >= total);
            sync(s.client(), s.transport());
            assertThat(bySequence(s.transport().eventIds(s.subscriptionId())))
                    .as("events of %s", s.subscriptionId()).isEqualTo(expected);
        }
        // every churning client saw its events in order and once, however long it stayed
        for (Connection c : churned) {
            List<Long> ids = c.transport().eventIds(c.subscriptionId());
            Map<Integer, List<Integer>> seen = bySequence(ids);
            seen.forEach((publisher, seqs) -> assertThat(seqs).as("%s from publisher %d", c.client().id(), publisher)
                    .isSorted().doesNotHaveDuplicates());
            assertThat(c.transport().writerThreads()).hasSizeLessThanOrEqualTo(1);
        }

        hub.closeAll(Disconnect.SHUTDOWN);
        List<Connection> all = new ArrayList<>(stable);
        all.addAll(churned);
        for (Connection c : all) {
            HubFixtures.awaitFinished(c.client());
            Disconnect d = c.transport().closed.get(10, TimeUnit.SECONDS);
            assertThat(d.code()).as("%s closed with %s", c.client().id(), d).isNotEqualTo(1011);
        }
        HubFixtures.assertNoneEscaped(escaped);
        await().atMost(Duration.ofSeconds(10)).pollDelay(Duration.ZERO).until(() -> hub.clients().isEmpty());
        long queued = 0;
        for (Subscription s : hub.subscriptions()) {
            assertThat(s.status().attached()).as(s.id()).isFalse();
            queued += s.status().queued();
        }
        assertThat(hub.queuedEvents()).as("the budget agrees with the queues").isEqualTo(queued);
        long total = 0;
        for (int p = 0; p < PUBLISHERS; p++) {
            total += published.get(p);
        }
        assertThat(metrics.received.get()).isEqualTo(total);
    }

    /**
     * The limit per key is a count kept beside the client map. Connecting and closing from many threads at once
     * must keep it exact: never more than the limit open at a time, and the full limit available afterwards.
     * (With a limit of 1 a lost count shows within milliseconds; the test runs for at most 4 s.)
     */
    @Test
    void theConnectionLimitPerKeyHoldsUnderConcurrentConnectAndClose() throws Exception {
        Hub hub = HubFixtures.hub(100);
        int limit = 1;
        AtomicInteger open = new AtomicInteger();
        AtomicInteger mostOpen = new AtomicInteger();
        AtomicInteger accepted = new AtomicInteger();
        Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();
        long deadline = System.nanoTime() + Duration.ofSeconds(4).toNanos();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < 8; w++) {
            String prefix = "c-" + w + "-";
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    go.await();
                    RecordingTransport t = new RecordingTransport();
                    for (int i = 0; System.nanoTime() < deadline && mostOpen.get() <= limit; i++) {
                        Optional<Client> c = hub.connect(prefix + i, "k", t, limit);
                        if (c.isPresent()) {
                            accepted.incrementAndGet();
                            mostOpen.accumulateAndGet(open.incrementAndGet(), Math::max);
                            open.decrementAndGet();
                            hub.closed(c.get(), Disconnect.GONE);
                        }
                    }
                } catch (Throwable e) {
                    escaped.add(e);
                }
            }));
        }
        go.countDown();
        for (Thread t : threads) {
            assertThat(t.join(Duration.ofSeconds(30))).isTrue();
        }

        HubFixtures.assertNoneEscaped(escaped);
        assertThat(accepted.get()).as("the race was run").isGreaterThan(1_000);
        assertThat(mostOpen.get()).as("connections of one key open at once, with a limit of %d", limit)
                .isLessThanOrEqualTo(limit);
        assertThat(hub.clients()).isEmpty();
        assertThat(hub.connect("after-1", "k", new RecordingTransport(), 2)).isPresent();
        assertThat(hub.connect("after-2", "k", new RecordingTransport(), 2)).isPresent();
        assertThat(hub.connect("after-3", "k", new RecordingTransport(), 2)).isEmpty();
    }

    // ---- helpers ----

    private static long id(int publisher, int seq) {
        return (publisher + 1) * PUBLISHER_STRIDE + seq;
    }

    private static String table(int publisher, int seq) {
        return TABLES[(seq + publisher) % TABLES.length];
    }

    /** For each publisher, the sequence numbers a subscription to {@code table} must get, in order. */
    private static Map<Integer, List<Integer>> expected(String table, AtomicIntegerArray published) {
        Map<Integer, List<Integer>> expected = new HashMap<>();
        for (int p = 0; p < PUBLISHERS; p++) {
            List<Integer> seqs = new ArrayList<>();
            for (int seq = 1; seq <= published.get(p); seq++) {
                if (table.equals(Subscription.EVERY_TABLE) || table(p, seq).equals(table)) {
                    seqs.add(seq);
                }
            }
            expected.put(p, seqs);
        }
        return expected;
    }

    private static Map<Integer, List<Integer>> bySequence(List<Long> ids) {
        Map<Integer, List<Integer>> seen = new HashMap<>();
        for (long id : ids) {
            int publisher = (int) (id / PUBLISHER_STRIDE) - 1;
            seen.computeIfAbsent(publisher, p -> new ArrayList<>()).add((int) (id % PUBLISHER_STRIDE));
        }
        return seen;
    }
}
