package io.cdcnotify.hub;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.LongStream;

import io.cdcnotify.hub.HubFixtures.CountingMetrics;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static io.cdcnotify.hub.HubFixtures.attach;
import static io.cdcnotify.hub.HubFixtures.connect;
import static io.cdcnotify.hub.HubFixtures.event;
import static io.cdcnotify.hub.HubFixtures.events;
import static io.cdcnotify.hub.HubFixtures.hub;
import static io.cdcnotify.hub.HubFixtures.start;
import static io.cdcnotify.hub.HubFixtures.sync;
import static org.assertj.core.api.Assertions.assertThat;

/** Contract section 7 as the hub keeps it: queue while detached, bounded, handed over in order on attach. */
@Timeout(60)
class DurableSubscriptionTest {

    private final Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();

    @AfterEach
    void nothingEscaped() {
        HubFixtures.assertNoneEscaped(escaped);
    }

    @Test
    void aDetachedSubscriptionKeepsItsNewestEventsUpToItsLimit() {
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = hub(100, 3, 1L << 30, metrics);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);

        hub.publish(events("orders", 1, 2, 3, 4, 5));

        Subscription.Status status = s.status();
        assertThat(status.attached()).isFalse();
        assertThat(status.queued()).isEqualTo(3);
        assertThat(status.dropped()).isEqualTo(2);
        assertThat(hub.queuedEvents()).isEqualTo(3);
        assertThat(metrics.drops(HubMetrics.DropReason.QUEUE_FULL)).isEqualTo(2);

        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        hub.publish(events("orders", 6));
        sync(c, t);

        assertThat(t.eventIds()).as("the oldest went; the rest in order, then live").containsExactly(3L, 4L, 5L, 6L);
        assertThat(s.status().queued()).isZero();
        assertThat(s.status().dropped()).as("dropped counts since creation").isEqualTo(2);
        assertThat(s.status().attached()).isTrue();
        assertThat(hub.queuedEvents()).isZero();
    }

    @Test
    void theQueueFillsOnlyWhileNoClientIsAttached() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        hub.publish(events("orders", 1, 2));
        sync(c, t);
        assertThat(s.status().queued()).isZero();

        c.detach("s-1", Optional.empty());
        sync(c, t);
        hub.publish(events("orders", 3, 4));
        assertThat(s.status().queued()).isEqualTo(2);
        assertThat(s.status().attached()).isFalse();

        RecordingTransport t2 = new RecordingTransport();
        Client c2 = connect(hub, "c2", t2);
        start(c2, escaped);
        attach(c2, t2, s);
        sync(c2, t2);
        assertThat(t.eventIds()).containsExactly(1L, 2L);
        assertThat(t2.eventIds()).as("re-attaching delivers what waited, in order").containsExactly(3L, 4L);
    }

    @Test
    void aSecondClientStartsWithLiveEventsOnly() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t1 = new RecordingTransport();
        RecordingTransport t2 = new RecordingTransport();
        Client c1 = connect(hub, "c1", t1);
        Client c2 = connect(hub, "c2", t2);
        start(c1, escaped);
        start(c2, escaped);
        attach(c1, t1, s);

        hub.publish(events("orders", 1));
        attach(c2, t2, s);
        hub.publish(events("orders", 2));
        sync(c1, t1);
        sync(c2, t2);

        assertThat(t1.eventIds()).containsExactly(1L, 2L);
        assertThat(t2.eventIds()).containsExactly(2L);

        // one leaves: the other still gets everything, nothing is queued
        c1.close(Disconnect.GONE);
        t1.awaitClosed();
        HubFixtures.awaitFinished(c1);
        hub.publish(events("orders", 3));
        sync(c2, t2);
        assertThat(t2.eventIds()).containsExactly(2L, 3L);
        assertThat(s.status().queued()).isZero();
        assertThat(s.status().attached()).isTrue();
    }

    @Test
    void theByteBudgetBoundsTheQueue() {
        long weight = new Publication(event(1, "orders")).weight();
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = hub(100, 1_000, 2 * weight + weight / 2, metrics);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);

        hub.publish(events("orders", 1, 2, 3, 4, 5));

        assertThat(s.status().queued()).isEqualTo(2);
        assertThat(s.status().dropped()).isEqualTo(3);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        sync(c, t);
        assertThat(t.eventIds()).containsExactly(4L, 5L);
    }

    @Test
    void theByteBudgetIsSharedByAllDetachedSubscriptions() {
        long weight = new Publication(event(1, "orders")).weight();
        Hub hub = hub(100, 1_000, 3 * weight, HubMetrics.NONE);
        Subscription a = hub.subscribe("s-a", "k", List.of("orders"), true);
        Subscription b = hub.subscribe("s-b", "k", List.of("orders"), true);
        Subscription c = hub.subscribe("s-c", "k", List.of("*"), true);

        List<Long> published = LongStream.rangeClosed(1, 9).boxed().toList();
        for (long id : published) {
            hub.publish(List.of(event(id, "orders")));
            long queued = a.status().queued() + b.status().queued() + c.status().queued();
            assertThat(queued).as("after event %d", id).isLessThanOrEqualTo(3);
            assertThat(hub.queuedEvents()).isEqualTo(queued);
        }
        for (Subscription s : List.of(a, b, c)) {
            assertThat(s.status().queued() + s.status().dropped()).as(s.id()).isEqualTo(published.size());
        }

        // what each hands over is its newest events, in order
        for (Subscription s : List.of(a, b, c)) {
            RecordingTransport t = new RecordingTransport();
            Client client = connect(hub, "c-" + s.id(), t);
            start(client, escaped);
            int queued = s.status().queued();
            attach(client, t, s);
            sync(client, t);
            assertThat(t.eventIds()).as(s.id()).containsExactlyElementsOf(published.subList(9 - queued, 9));
        }
        assertThat(hub.queuedEvents()).isZero();
    }

    @Test
    void anEventHeavierThanTheWholeBudgetIsDroppedAlone() {
        long weight = new Publication(event(1, "orders")).weight();
        Hub hub = hub(100, 1_000, weight - 1, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);

        hub.publish(events("orders", 1, 2));

        assertThat(s.status().queued()).isZero();
        assertThat(s.status().dropped()).isEqualTo(2);
        assertThat(hub.queuedEvents()).isZero();
    }

    @Test
    void endingASubscriptionFreesItsQueue() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        hub.publish(events("orders", 1, 2, 3));
        assertThat(hub.queuedEvents()).isEqualTo(3);

        hub.end(s);
        hub.publish(events("orders", 4));

        assertThat(hub.queuedEvents()).isZero();
        assertThat(s.status().queued()).isZero();
        assertThat(hub.subscriptions()).doesNotContain(s);
    }

    @Test
    void aSubscriptionOfAStreamDoesNotQueue() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);

        hub.publish(events("orders", 1, 2));

        assertThat(s.durable()).isFalse();
        assertThat(s.status().queued()).isZero();
        assertThat(hub.queuedEvents()).isZero();
    }

    @Test
    void subscribingAnExistingIdReturnsTheSameSubscription() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Instant created = Instant.parse("2026-01-01T00:00:00Z");
        Subscription first = hub.subscribe("s-1", "k", List.of("orders"), true, created, java.util.Optional.empty());
        hub.publish(events("orders", 1));

        Subscription again = hub.subscribe("s-1", "k", List.of("orders"), true, Instant.now(), java.util.Optional.empty());

        assertThat(again).isSameAs(first);
        assertThat(again.createdAt()).isEqualTo(created);
        assertThat(again.status().queued()).as("its queue is kept").isEqualTo(1);
        hub.publish(events("orders", 2));
        assertThat(first.status().queued()).as("routed once, not twice").isEqualTo(2);
    }

    @Test
    void aSubscriptionHeldOnAnotherInstanceDoesNotQueueHere() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);

        s.attachedElsewhere(true);
        hub.publish(events("orders", 1, 2));

        assertThat(s.status().queued()).isZero();
        assertThat(s.status().attached()).isTrue();
        assertThat(s.attachedHere()).isZero();

        s.attachedElsewhere(false);
        hub.publish(events("orders", 3));
        assertThat(s.status().queued()).isEqualTo(1);
        assertThat(s.status().attached()).isFalse();
    }

    @Test
    void aSubscriptionRemembersTheLastCursorWrittenToItsClients() {
        Hub hub = hub(100, 100, 1L << 30, HubMetrics.NONE);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        Subscription other = hub.subscribe("s-2", "k", List.of("customers"), true);
        assertThat(s.lastCursor()).isEmpty();
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        attach(c, t, other);
        assertThat(s.attachedHere()).isEqualTo(1);

        hub.publish(List.of(event(1, "orders"), event(2, "orders"), event(3, "customers")));
        sync(c, t);

        assertThat(s.lastCursor()).contains(new Publication(event(2, "orders")).cursor());
        assertThat(other.lastCursor()).contains(new Publication(event(3, "customers")).cursor());
    }

    // ---- DetachedQueue on its own ----

    @Test
    void detachedQueueDropsOldestFirstAndGivesBytesBack() {
        DetachedQueue.Budget budget = new DetachedQueue.Budget(1L << 20);
        DetachedQueue q = new DetachedQueue(3, budget, HubMetrics.NONE);
        List<Publication> ps = new ArrayList<>();
        for (long i = 1; i <= 5; i++) {
            Publication p = new Publication(event(i, "orders"));
            ps.add(p);
            q.add(p);
        }
        assertThat(q.size()).isEqualTo(3);
        assertThat(q.dropped()).isEqualTo(2);
        assertThat(budget.events()).isEqualTo(3);
        assertThat(budget.fits((1L << 20) - 3 * ps.getFirst().weight())).isTrue();
        assertThat(budget.fits((1L << 20) - 3 * ps.getFirst().weight() + 1)).isFalse();

        List<Publication> drained = q.drain();
        assertThat(drained).containsExactly(ps.get(2), ps.get(3), ps.get(4));
        assertThat(q.size()).isZero();
        assertThat(budget.events()).isZero();
        assertThat(budget.fits(1L << 20)).as("all bytes given back").isTrue();
        assertThat(q.dropped()).isEqualTo(2);
        assertThat(q.drain()).isEmpty();
    }

    @Test
    void aQueueOfSizeZeroKeepsNothing() {
        DetachedQueue.Budget budget = new DetachedQueue.Budget(1L << 20);
        DetachedQueue q = new DetachedQueue(0, budget, HubMetrics.NONE);

        q.add(new Publication(event(1, "orders")));
        q.add(new Publication(event(2, "orders")));

        assertThat(q.size()).isZero();
        assertThat(q.dropped()).isEqualTo(2);
        assertThat(budget.events()).isZero();
    }

    @Test
    void oneQueueMakesRoomInTheSharedBudgetOnlyFromItsOwnEvents() {
        Publication p1 = new Publication(event(1, "orders"));
        long w = p1.weight();
        DetachedQueue.Budget budget = new DetachedQueue.Budget(2 * w);
        DetachedQueue full = new DetachedQueue(100, budget, HubMetrics.NONE);
        DetachedQueue other = new DetachedQueue(100, budget, HubMetrics.NONE);
        full.add(p1);
        full.add(new Publication(event(2, "orders")));

        other.add(new Publication(event(3, "orders")));

        assertThat(full.size()).as("another queue's events are not taken").isEqualTo(2);
        assertThat(other.size()).isZero();
        assertThat(other.dropped()).isEqualTo(1);

        full.clear();
        other.add(new Publication(event(4, "orders")));
        assertThat(other.size()).isEqualTo(1);
        assertThat(budget.events()).isEqualTo(1);
    }

    @Test
    void weightGrowsWithTheEvent() {
        Publication small = new Publication(event(1, "orders"));
        Publication big = new Publication(new io.cdcnotify.outbox.OutboxEvent(
                2, 1002, "orders", "INSERT", "{\"text\":\"" + "x".repeat(10_000) + "\"}", 0,
                new io.cdcnotify.outbox.Cursor(1002, 2, new long[0])));
        assertThat(big.weight()).isGreaterThan(small.weight() + 10_000);
        assertThat(small.weight()).isPositive();
    }
}
