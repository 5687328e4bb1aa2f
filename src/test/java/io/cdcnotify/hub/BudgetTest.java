package io.cdcnotify.hub;

import static io.cdcnotify.hub.HubFixtures.attach;
import static io.cdcnotify.hub.HubFixtures.awaitFinished;
import static io.cdcnotify.hub.HubFixtures.bigEvent;
import static io.cdcnotify.hub.HubFixtures.connect;
import static io.cdcnotify.hub.HubFixtures.start;
import static io.cdcnotify.hub.HubFixtures.sync;
import static io.cdcnotify.hub.HubFixtures.waiting;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.cdcnotify.hub.HubFixtures.CountingMetrics;
import io.cdcnotify.hub.RecordingTransport.Event;
import io.cdcnotify.hub.RecordingTransport.Gate;
import io.cdcnotify.hub.RecordingTransport.Sent;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The byte budgets: what one connection may hold, what the service holds in all, pongs that coalesce, and
 * connections cut from outside when their writer is stuck on a peer that does not read.
 */
@Timeout(60)
class BudgetTest {

    private static final int PAD = 1_000;
    /** What one test event weighs: its JSON (the padding and the envelope), its cursor and the framing. */
    private static final long W = new Publication(bigEvent(1, "orders", PAD)).weight();

    private final Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();

    @AfterEach
    void nothingEscaped() {
        HubFixtures.assertNoneEscaped(escaped);
    }

    private static Hub.Limits limits(long clientBytes, long totalBytes, Duration grace) {
        return new Hub.Limits(10_000, clientBytes, 10_000, 1L << 30, totalBytes, grace);
    }

    private static List<io.cdcnotify.outbox.OutboxEvent> big(String table, long from, int count) {
        List<io.cdcnotify.outbox.OutboxEvent> events = new ArrayList<>();
        for (long id = from; id < from + count; id++) {
            events.add(bigEvent(id, table, PAD));
        }
        return events;
    }

    // ---- one connection ----

    @Test
    void pastItsByteBudgetAClientIsASlowConsumerLongBeforeItsEventCount() {
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = HubFixtures.hub(limits(10 * W, Long.MAX_VALUE, Duration.ofHours(1)), metrics);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        Gate stuck = t.gate(w -> w instanceof Event e && e.id() == 1);

        hub.publish(big("orders", 1, 1));
        stuck.awaitReached();
        hub.publish(big("orders", 2, 9));
        assertThat(t.closed).as("ten events fit in ten events' bytes").isNotDone();
        hub.publish(big("orders", 11, 50));
        assertThat(c.bufferedBytes()).as("held: the budget and at most one event past it").isLessThanOrEqualTo(11 * W);
        stuck.release();

        Disconnect d = t.awaitClosed();
        assertThat(d.code()).isEqualTo(4408);
        assertThat(d.reason()).isEqualTo(new Publication(bigEvent(1, "orders", PAD)).cursor());
        assertThat(t.eventIds()).first().isEqualTo(1L);
        assertThat(metrics.drops(HubMetrics.DropReason.SLOW_CONSUMER)).isGreaterThanOrEqualTo(40);
        awaitFinished(c);
        assertThat(hub.bufferedBytes()).as("everything given back").isZero();
    }

    @Test
    void oneEventLargerThanTheWholeBudgetStillReachesAClientThatKeepsUp() {
        Hub hub = HubFixtures.hub(limits(1_000, Long.MAX_VALUE, Duration.ofHours(1)), HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        for (long id = 1; id <= 5; id++) {
            hub.publish(List.of(bigEvent(id, "orders", 100_000)));
            long written = id;
            waiting().until(() -> t.eventIds().contains(written) && c.bufferedBytes() == 0);
        }

        assertThat(t.eventIds()).containsExactly(1L, 2L, 3L, 4L, 5L);
        assertThat(t.closed).isNotDone();
        assertThat(c.bufferedBytes()).isZero();
        assertThat(hub.bufferedBytes()).isZero();
    }

    @Test
    void repliesAndErrorsCountAgainstTheSameBudget() {
        Hub hub = HubFixtures.hub(limits(64 * 1024, Long.MAX_VALUE, Duration.ofHours(1)), HubMetrics.NONE);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Gate stuck = t.gate(w -> w instanceof Sent m && m.message().requestId().equals(Optional.of("stuck")));
        c.send(new Message.Pong(Optional.of("stuck")));
        stuck.awaitReached();

        for (int i = 0; i < 100_000; i++) {
            c.send(Message.Error.answering(Optional.of("r" + i), ErrorCode.LIMIT_EXCEEDED, "more than 100 messages in a second"));
        }

        assertThat(c.bufferedBytes()).as("a flood of replies to a peer that does not read").isLessThanOrEqualTo(65 * 1024);
        assertThat(hub.bufferedBytes()).isLessThanOrEqualTo(65 * 1024);
        stuck.release();
        Disconnect d = t.awaitClosed();
        assertThat(d.code()).as("past its budget: a slow consumer").isEqualTo(4408);
        awaitFinished(c);
        assertThat(hub.bufferedBytes()).isZero();
    }

    @Test
    void aPingFloodHoldsOnePongAndTheLatestIsAnswered() throws Exception {
        Hub hub = HubFixtures.hub(limits(64 * 1024, Long.MAX_VALUE, Duration.ofHours(1)), HubMetrics.NONE);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        CountDownLatch writerStuck = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        List<Integer> answered = java.util.Collections.synchronizedList(new ArrayList<>());
        c.pong(transport -> {
            answered.add(0);
            writerStuck.countDown();
            try {
                release.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertThat(writerStuck.await(10, TimeUnit.SECONDS)).isTrue();

        for (int i = 1; i <= 1_000_000; i++) {
            int n = i;
            c.pong(transport -> answered.add(n));
        }
        assertThat(c.bufferedBytes()).as("a million pings, one pong waiting").isLessThan(1_000);
        release.countDown();

        waiting().until(() -> answered.size() == 2);
        sync(c, t);
        assertThat(answered).containsExactly(0, 1_000_000);
        assertThat(c.bufferedBytes()).isZero();
        assertThat(t.closed).isNotDone();
    }

    @Test
    void liveEventsHeldAsideDuringAReplayCountAgainstTheBudget() {
        Hub hub = HubFixtures.hub(limits(10 * W, Long.MAX_VALUE, Duration.ofHours(1)), HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        for (var e : big("orders", 1, 3)) {
            hub.publish(List.of(e)); // nobody attached: they wait in the detached queue
        }
        assertThat(hub.bufferedBytes()).as("the detached queue counts").isEqualTo(3 * W);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Gate inReplay = t.gate(w -> w instanceof Event e && e.id() == 1);
        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.of("r"), s.id(), s.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "gone"));
        inReplay.awaitReached();
        hub.publish(big("orders", 4, 30));
        inReplay.release();

        Disconnect d = t.awaitClosed();
        assertThat(d.code()).isEqualTo(4408);
        awaitFinished(c);
        assertThat(hub.bufferedBytes()).isZero();
    }

    // ---- the whole service ----

    @Test
    void overTheTotalBudgetTheLargestConsumersAreCutFirstWithTheirCursor() {
        Hub hub = HubFixtures.hub(limits(1L << 30, 40 * W, Duration.ofHours(1)), HubMetrics.NONE);
        String[] tables = {"a", "b", "c"};
        int[] counts = {30, 12, 3};
        List<Client> clients = new ArrayList<>();
        List<RecordingTransport> transports = new ArrayList<>();
        List<Gate> gates = new ArrayList<>();
        long id = 1;
        for (int i = 0; i < 3; i++) {
            Subscription s = hub.subscribe("s-" + tables[i], "k", List.of(tables[i]), false);
            RecordingTransport t = new RecordingTransport();
            Client c = connect(hub, "c-" + tables[i], t);
            start(c, escaped);
            attach(c, t, s);
            long first = id;
            gates.add(t.gate(w -> w instanceof Event e && e.id() == first));
            clients.add(c);
            transports.add(t);
            hub.publish(big(tables[i], id, 1));
            gates.get(i).awaitReached();
            id++;
        }
        for (int i = 0; i < 3; i++) {
            hub.publish(big(tables[i], id, counts[i] - 1));
            id += counts[i] - 1;
        }
        hub.tick();

        assertThat(hub.bufferedBytes()).as("the largest consumer's queue freed at once").isLessThanOrEqualTo(40 * W);
        gates.forEach(Gate::release);
        Disconnect cut = transports.get(0).awaitClosed();
        assertThat(cut.code()).isEqualTo(4408);
        assertThat(cut.reason()).as("with its cursor").isEqualTo(new Publication(bigEvent(1, "a", PAD)).cursor());
        for (int i = 1; i < 3; i++) {
            sync(clients.get(i), transports.get(i));
            assertThat(transports.get(i).closed).as("the smaller consumers stay").isNotDone();
            assertThat(transports.get(i).events()).hasSize(counts[i]);
        }
        clients.forEach(c -> c.close(Disconnect.SHUTDOWN));
        clients.forEach(HubFixtures::awaitFinished);
        assertThat(hub.bufferedBytes()).isZero();
    }

    @Test
    void anEventSharedByManyConnectionsCountsOnceInTheTotal() {
        Hub hub = HubFixtures.hub(limits(1L << 30, Long.MAX_VALUE, Duration.ofHours(1)), HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        List<Gate> gates = new ArrayList<>();
        List<Client> clients = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            RecordingTransport t = new RecordingTransport();
            Client c = connect(hub, "c" + i, t);
            start(c, escaped);
            attach(c, t, s);
            gates.add(t.gate(w -> w instanceof Event));
            clients.add(c);
        }
        hub.publish(big("orders", 1, 1));
        gates.forEach(Gate::awaitReached);

        assertThat(clients).allSatisfy(c -> assertThat(c.bufferedBytes()).isEqualTo(W));
        assertThat(hub.bufferedBytes()).isEqualTo(W);
        gates.forEach(Gate::release);
        clients.forEach(c -> c.close(Disconnect.SHUTDOWN));
        clients.forEach(HubFixtures::awaitFinished);
        assertThat(hub.bufferedBytes()).isZero();
    }

    @Test
    void everythingIsGivenBackWhenConnectionsComeAndGoUnderLoad() throws Exception {
        Hub hub = HubFixtures.hub(limits(50 * W, 1L << 40, Duration.ofHours(1)), HubMetrics.NONE);
        Subscription durable = hub.subscribe("s-d", "k", List.of("orders"), true);
        AtomicInteger stop = new AtomicInteger();
        Thread publisher = Thread.ofVirtual().start(() -> {
            long id = 1;
            while (stop.get() == 0) {
                hub.publish(big("orders", id, 5));
                id += 5;
            }
        });
        for (int round = 0; round < 200; round++) {
            Subscription s = round % 2 == 0 ? durable : hub.subscribe("s-" + round, "k", List.of("orders"), false);
            RecordingTransport t = new RecordingTransport();
            Client c = connect(hub, "c" + round, t);
            start(c, escaped);
            c.attach(s, Optional.empty(), new Message.Subscribed(Optional.empty(), s.id(), s.tables()),
                     Message.Error.of(ErrorCode.NOT_FOUND, "gone"));
            c.send(new Message.Pong(Optional.of("p")));
            c.pong(transport -> { });
            if (round % 3 == 0) {
                c.close(Disconnect.revoked("gone"));
            } else {
                c.close(Disconnect.GONE);
            }
            awaitFinished(c);
            assertThat(c.bufferedBytes()).as("round %d", round).isZero();
        }
        stop.set(1);
        publisher.join();
        hub.end(durable);
        assertThat(hub.bufferedBytes()).isZero();
    }

    // ---- cut from outside ----

    @Test
    void aWriterStuckInAWriteIsCutOnceItsConnectionMustEndAndNotBefore() {
        Hub hub = HubFixtures.hub(limits(1L << 30, Long.MAX_VALUE, Duration.ofMillis(200)), HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        Gate stuck = t.gate(w -> w instanceof Event);
        hub.publish(big("orders", 1, 3));
        stuck.awaitReached();

        long until = System.nanoTime() + Duration.ofMillis(500).toNanos();
        while (System.nanoTime() < until) {
            hub.tick();
        }
        assertThat(t.aborts.get()).as("a client merely slow to read is left alone").isZero();

        c.close(Disconnect.revoked("the API key was revoked"));
        waiting().until(() -> {
            hub.tick();
            return t.aborts.get() > 0;
        });
        awaitFinished(c);
        assertThat(hub.clients()).doesNotContain(c);
        assertThat(hub.bufferedBytes()).isZero();
    }

    @Test
    void aSlowConsumerStuckInAWriteIsCutToo() {
        Hub hub = HubFixtures.hub(limits(5 * W, Long.MAX_VALUE, Duration.ofMillis(200)), HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        Gate stuck = t.gate(w -> w instanceof Event);
        hub.publish(big("orders", 1, 20));
        stuck.awaitReached();

        waiting().until(() -> {
            hub.tick();
            return t.aborts.get() > 0;
        });
        awaitFinished(c);
        assertThat(hub.clients()).doesNotContain(c);
        assertThat(hub.bufferedBytes()).isZero();
    }

    @Test
    void aCloseQueuedBehindAStuckWriterIsCutToo() {
        Hub hub = HubFixtures.hub(limits(1L << 30, Long.MAX_VALUE, Duration.ofMillis(200)), HubMetrics.NONE);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Gate stuck = t.gate(w -> w instanceof Sent);
        c.send(Message.Error.of(ErrorCode.LIMIT_EXCEEDED, "message rate over the limit for 5 s"));
        stuck.awaitReached();
        c.closeAfterQueued(Disconnect.limit("message rate limit"));

        waiting().until(() -> {
            hub.tick();
            return t.aborts.get() > 0;
        });
        awaitFinished(c);
        assertThat(hub.clients()).doesNotContain(c);
    }
}
