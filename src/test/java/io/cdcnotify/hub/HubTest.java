package io.cdcnotify.hub;

import static io.cdcnotify.hub.HubFixtures.attach;
import static io.cdcnotify.hub.HubFixtures.awaitFinished;
import static io.cdcnotify.hub.HubFixtures.connect;
import static io.cdcnotify.hub.HubFixtures.event;
import static io.cdcnotify.hub.HubFixtures.events;
import static io.cdcnotify.hub.HubFixtures.hub;
import static io.cdcnotify.hub.HubFixtures.start;
import static io.cdcnotify.hub.HubFixtures.sync;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.stream.LongStream;

import io.cdcnotify.hub.HubFixtures.CountingMetrics;
import io.cdcnotify.hub.RecordingTransport.Event;
import io.cdcnotify.hub.RecordingTransport.Gate;
import io.cdcnotify.hub.RecordingTransport.Sent;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Routing, fan-out, slow consumers, ending subscriptions and the per-key connection limit. */
@Timeout(60)
class HubTest {

    private final Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();

    @AfterEach
    void nothingEscaped() {
        HubFixtures.assertNoneEscaped(escaped);
    }

    // ---- routing ----

    @Test
    void routesByTableAndEveryTable() {
        Hub hub = hub(1_000);
        Subscription orders = hub.subscribe("s-orders", "k", List.of("orders"), false);
        Subscription customers = hub.subscribe("s-customers", "k", List.of("customers"), false);
        Subscription both = hub.subscribe("s-both", "k", List.of("orders", "customers"), false);
        Subscription every = hub.subscribe("s-every", "k", List.of(Subscription.EVERY_TABLE), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        for (Subscription s : List.of(orders, customers, both, every)) {
            attach(c, t, s);
        }

        hub.publish(List.of(event(1, "orders"), event(2, "customers"), event(3, "other"), event(4, "orders")));
        sync(c, t);

        assertThat(t.eventIds("s-orders")).containsExactly(1L, 4L);
        assertThat(t.eventIds("s-customers")).containsExactly(2L);
        assertThat(t.eventIds("s-both")).containsExactly(1L, 2L, 4L);
        assertThat(t.eventIds("s-every")).containsExactly(1L, 2L, 3L, 4L);
        assertThat(c.subscriptionIds()).containsExactlyInAnyOrder("s-orders", "s-customers", "s-both", "s-every");
    }

    @Test
    void tableNamesMatchExactly() {
        Hub hub = hub(1_000);
        Subscription s = hub.subscribe("s-1", "k", List.of("Orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        hub.publish(List.of(event(1, "orders"), event(2, "Orders "), event(3, "Orders"), event(4, "*")));
        sync(c, t);

        assertThat(t.eventIds()).containsExactly(3L);
    }

    @Test
    void aPublicationIsEncodedOnceForAllItsRecipients() {
        Hub hub = hub(1_000);
        Subscription a = hub.subscribe("s-a", "k", List.of("orders"), false);
        Subscription b = hub.subscribe("s-b", "k", List.of("orders"), false);
        Subscription all = hub.subscribe("s-all", "k", List.of("*"), false);
        RecordingTransport t1 = new RecordingTransport();
        RecordingTransport t2 = RecordingTransport.sse();
        Client c1 = connect(hub, "c1", t1);
        Client c2 = connect(hub, "c2", t2);
        start(c1, escaped);
        start(c2, escaped);
        attach(c1, t1, a);
        attach(c1, t1, all);
        attach(c2, t2, b);

        hub.publish(List.of(event(7, "orders")));
        sync(c1, t1);
        sync(c2, t2);

        List<Event> written = new java.util.ArrayList<>(t1.events());
        written.addAll(t2.events());
        assertThat(written).hasSize(3);
        Publication first = written.getFirst().publication();
        for (Event e : written) {
            assertThat(e.publication()).isSameAs(first);
            assertThat(e.publication().json()).isSameAs(first.json());
        }
        assertThat(first.sseFrame()).isSameAs(first.sseFrame());
    }

    @Test
    void eventsForTablesNobodyWantsGoNowhere() {
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = hub(1_000, 100, 1L << 30, metrics);
        Subscription detached = hub.subscribe("s-queue", "k", List.of("orders"), true);
        Subscription live = hub.subscribe("s-live", "k", List.of("customers"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, live);

        hub.publish(List.of(event(1, "other"), event(2, "nobody")));
        sync(c, t);

        assertThat(t.events()).isEmpty();
        assertThat(detached.status().queued()).isZero();
        assertThat(hub.queuedEvents()).isZero();
        assertThat(metrics.received.get()).as("every event read is counted").isEqualTo(2);

        hub.publish(List.of(event(3, "orders"), event(4, "customers")));
        sync(c, t);
        assertThat(detached.status().queued()).isEqualTo(1);
        assertThat(t.eventIds()).containsExactly(4L);
    }

    @Test
    void aBatchKeepsItsOrderAcrossTables() {
        Hub hub = hub(10_000);
        Subscription every = hub.subscribe("s-1", "k", List.of("*"), false);
        Subscription some = hub.subscribe("s-2", "k", List.of("a", "c"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, every);
        attach(c, t, some);

        String[] tables = {"a", "b", "c"};
        List<OutboxEvent> batch = LongStream.rangeClosed(1, 300).mapToObj(i -> event(i, tables[(int) (i % 3)])).toList();
        hub.publish(batch);
        sync(c, t);

        assertThat(t.eventIds("s-1")).containsExactlyElementsOf(LongStream.rangeClosed(1, 300).boxed().toList());
        assertThat(t.eventIds("s-2")).containsExactlyElementsOf(
                LongStream.rangeClosed(1, 300).filter(i -> i % 3 != 1).boxed().toList());
        assertThat(t.writerThreads()).as("one writer per connection").hasSize(1);
    }

    // ---- slow consumers ----

    @Test
    void aSlowConsumerIsClosedWithTheCursorOfTheLastEventWritten() {
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = hub(3, 100, 1L << 30, metrics);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        Gate stuck = t.gate(w -> w instanceof Event e && e.id() == 1);

        hub.publish(List.of(event(1, "orders")));
        stuck.awaitReached();
        // the writer is stuck writing event 1: three more fill the buffer, more make the client slow
        hub.publish(events("orders", 2, 3, 4));
        assertThat(t.closed).isNotDone();
        hub.publish(events("orders", 5, 6, 7));
        stuck.release();

        Disconnect d = t.awaitClosed();
        String cursor = new Publication(event(1, "orders")).cursor();
        assertThat(d.code()).isEqualTo(4408);
        assertThat(d.reason()).as("the cursor fits in a close reason").isEqualTo(cursor);
        assertThat(t.eventIds()).containsExactly(1L);
        Message last = t.messages().getLast();
        assertThat(last).isInstanceOf(Message.Error.class);
        Message.Error error = (Message.Error) last;
        assertThat(error.code()).isEqualTo(ErrorCode.SLOW_CONSUMER);
        assertThat(error.cursor()).contains(cursor);
        assertThat(t.written().getLast()).as("the error is the last thing written").isEqualTo(new Sent(error));
        assertThat(metrics.drops(HubMetrics.DropReason.SLOW_CONSUMER)).isGreaterThanOrEqualTo(3);
        assertThat(metrics.errors.get(ErrorCode.SLOW_CONSUMER).get()).isEqualTo(1);

        awaitFinished(c);
        assertThat(hub.clients()).doesNotContain(c);
        assertThat(hub.subscription("s-1")).as("its own subscription ends with it").isEmpty();
    }

    @Test
    void aSlowConsumerThatWasWrittenNothingGetsANullCursor() {
        Hub hub = hub(3);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Gate reply = t.gate(w -> w instanceof Sent m && m.message() instanceof Message.Subscribed);
        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.of("r1"), s.id(), s.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "gone"));

        reply.awaitReached();       // attached: live events now go to this client, which is stuck
        hub.publish(events("orders", 1, 2, 3, 4, 5));
        reply.release();

        Disconnect d = t.awaitClosed();
        assertThat(d.code()).isEqualTo(4408);
        assertThat(io.cdcnotify.outbox.Cursor.decode(d.reason())).as("no cursor to give").isEmpty();
        assertThat(t.events()).isEmpty();
        Message.Error error = t.messages(Message.Error.class).getFirst();
        assertThat(error.cursor()).isEmpty();
        assertThat(error.carriesCursor()).as("present, and null").isTrue();
        awaitFinished(c);
        assertThat(s.status().attached()).isFalse();
        assertThat(hub.subscription("s-1")).as("a durable subscription outlives its slow client").isPresent();
    }

    @Test
    void deliverNeverBlocksOnAStuckWriter() {
        Hub hub = hub(10);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        Gate stuck = t.gate(w -> w instanceof Event);
        hub.publish(List.of(event(1, "orders")));
        stuck.awaitReached();

        long started = System.nanoTime();
        for (long i = 2; i <= 100_000; i++) {
            hub.publish(List.of(event(i, "orders")));
        }
        long millis = (System.nanoTime() - started) / 1_000_000;
        stuck.release();

        assertThat(millis).as("100,000 publishes to a stuck client").isLessThan(5_000);
        assertThat(t.awaitClosed().code()).isEqualTo(4408);
        assertThat(t.eventIds()).containsExactly(1L);
    }

    @Test
    void liveEventsWithinTheBufferAreAllWritten() {
        Hub hub = hub(50);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        Gate stuck = t.gate(w -> w instanceof Event);
        hub.publish(List.of(event(1, "orders")));
        stuck.awaitReached();
        for (long i = 2; i <= 51; i++) {
            hub.publish(List.of(event(i, "orders")));   // exactly 50 waiting
        }
        stuck.release();
        sync(c, t);

        assertThat(t.closed).isNotDone();
        assertThat(t.eventIds()).containsExactlyElementsOf(LongStream.rangeClosed(1, 51).boxed().toList());
    }

    // ---- ending subscriptions ----

    @Test
    void endingASubscriptionTellsWebSocketClientsAndKeepsThemOpen() {
        Hub hub = hub(1_000);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        Subscription other = hub.subscribe("s-2", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        attach(c, t, other);

        hub.end(s);
        HubFixtures.waiting().until(() -> !t.messages(Message.Unsubscribed.class).isEmpty());
        hub.publish(List.of(event(1, "orders")));
        sync(c, t);

        assertThat(t.messages(Message.Unsubscribed.class))
                .containsExactly(new Message.Unsubscribed(Optional.empty(), "s-1"));
        assertThat(t.closed).isNotDone();
        assertThat(t.eventIds("s-1")).isEmpty();
        assertThat(t.eventIds("s-2")).containsExactly(1L);
        assertThat(hub.subscription("s-1")).isEmpty();
        assertThat(c.subscriptionIds()).containsExactly("s-2");
        assertThat(s.status().attached()).isFalse();
    }

    @Test
    void endingASubscriptionEndsAnSseStreamThatCarriesIt() {
        Hub hub = hub(1_000);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = RecordingTransport.sse();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        hub.end(s);

        Disconnect d = t.awaitClosed();
        assertThat(t.messages(Message.Error.class)).singleElement()
                .satisfies(e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND));
        assertThat(t.messages(Message.Unsubscribed.class)).isEmpty();
        assertThat(d.error()).isPresent();
        awaitFinished(c);
        assertThat(hub.clients()).doesNotContain(c);
    }

    @Test
    void endingTwiceOrEndingAnUnknownSubscriptionIsHarmless() {
        Hub hub = hub(1_000);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        hub.end(s);
        hub.end(s);
        hub.end(new Subscription("s-x", "k", List.of("orders"), java.time.Instant.now(), null, java.util.Optional.empty()));
        sync(c, t);
        HubFixtures.waiting().until(() -> !t.messages(Message.Unsubscribed.class).isEmpty());
        sync(c, t);

        assertThat(t.messages(Message.Unsubscribed.class)).hasSize(1);
    }

    @Test
    void aClientThatDetachedFirstIsNotToldAgain() {
        Hub hub = hub(1_000);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        c.detach("s-1", Optional.of(new Message.Unsubscribed(Optional.of("r9"), "s-1")));
        hub.end(s);
        sync(c, t);

        assertThat(t.messages(Message.Unsubscribed.class))
                .containsExactly(new Message.Unsubscribed(Optional.of("r9"), "s-1"));
    }

    @Test
    void attachingToAnEndedSubscriptionAnswersIfEnded() {
        Hub hub = hub(1_000);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        hub.end(s);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);

        Message.Error ifEnded = Message.Error.answering(Optional.of("r1"), ErrorCode.NOT_FOUND, "no such subscription");
        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.of("r1"), "s-1", s.tables()), ifEnded);
        sync(c, t);

        assertThat(t.messages()).first().isEqualTo(ifEnded);
        assertThat(t.messages(Message.Subscribed.class)).isEmpty();
        assertThat(c.subscriptionIds()).isEmpty();
    }

    // ---- connections ----

    @Test
    void connectEnforcesTheLimitPerKey() {
        Hub hub = hub(1_000);
        List<Client> clients = new java.util.ArrayList<>();
        for (int i = 0; i < 3; i++) {
            clients.add(hub.connect("c" + i, "k", new RecordingTransport(), 3).orElseThrow());
        }
        assertThat(hub.connect("c3", "k", new RecordingTransport(), 3)).isEmpty();
        assertThat(hub.connect("c4", "other", new RecordingTransport(), 3)).isPresent();
        assertThat(hub.clients()).hasSize(4);

        Client closed = clients.getFirst();
        start(closed, escaped);
        closed.close(Disconnect.GONE);
        awaitFinished(closed);
        assertThat(hub.clients()).doesNotContain(closed);

        assertThat(hub.connect("c5", "k", new RecordingTransport(), 3)).as("a place came free").isPresent();
        assertThat(hub.connect("c6", "k", new RecordingTransport(), 3)).isEmpty();
    }

    @Test
    void aClientClosedTwiceFreesOnePlace() {
        Hub hub = hub(1_000);
        Client a = hub.connect("a", "k", new RecordingTransport(), 2).orElseThrow();
        hub.connect("b", "k", new RecordingTransport(), 2).orElseThrow();

        hub.closed(a, Disconnect.GONE);
        hub.closed(a, Disconnect.GONE);

        assertThat(hub.connect("c", "k", new RecordingTransport(), 2)).isPresent();
        assertThat(hub.connect("d", "k", new RecordingTransport(), 2)).isEmpty();
    }

    @Test
    void connectionsAreCountedByTransport() {
        Hub hub = hub(1_000);
        hub.connect("a", "k", new RecordingTransport(), 10).orElseThrow();
        hub.connect("b", "k", new RecordingTransport(), 10).orElseThrow();
        hub.connect("c", "k", RecordingTransport.sse(), 10).orElseThrow();

        assertThat(hub.connections("websocket")).isEqualTo(2);
        assertThat(hub.connections("sse")).isEqualTo(1);
        assertThat(hub.connections("other")).isZero();
    }

    @Test
    void closeKeysClosesOnlyThoseKeys() {
        Hub hub = hub(1_000);
        RecordingTransport ta = new RecordingTransport();
        RecordingTransport tb = new RecordingTransport();
        Client a = hub.connect("a", "revoked", ta, 10).orElseThrow();
        Client b = hub.connect("b", "fine", tb, 10).orElseThrow();
        start(a, escaped);
        start(b, escaped);

        hub.closeKeys(List.of("revoked"), Disconnect.revoked("key revoked"));

        assertThat(ta.awaitClosed().code()).isEqualTo(4403);
        assertThat(ta.messages(Message.Error.class)).singleElement()
                .satisfies(e -> assertThat(e.code()).isEqualTo(ErrorCode.UNAUTHORIZED));
        sync(b, tb);
        assertThat(tb.closed).isNotDone();

        hub.closeAll(Disconnect.SHUTDOWN);
        assertThat(tb.awaitClosed()).isEqualTo(Disconnect.SHUTDOWN);
        awaitFinished(a);
        awaitFinished(b);
        assertThat(hub.clients()).isEmpty();
    }

    @Test
    void aHubShuttingDownRefusesNewClientsButKeepsTheOpenOnes() {
        Hub hub = hub(1_000);
        RecordingTransport t = new RecordingTransport();
        Client open = connect(hub, "c1", t);
        start(open, escaped);
        assertThat(hub.refusing()).isFalse();

        hub.refuseNewClients();

        assertThat(hub.refusing()).isTrue();
        assertThat(hub.connect("c2", "other", new RecordingTransport(), 1_000)).isEmpty();
        sync(open, t);
        assertThat(hub.clients()).containsExactly(open);
    }

    @Test
    void newClientIdsLookRight() {
        assertThat(Hub.newClientId()).matches("c-[0-9a-f]{16}");
        assertThat(Hub.newClientId()).isNotEqualTo(Hub.newClientId());
    }
}
