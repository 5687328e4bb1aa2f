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

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
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

/** One connection's writer: replay then live, closing, keepalives, a dead peer. */
@Timeout(60)
class ClientTest {

    private final Queue<Throwable> escaped = new ConcurrentLinkedQueue<>();

    @AfterEach
    void nothingEscaped() {
        HubFixtures.assertNoneEscaped(escaped);
    }

    // ---- backlog, then live ----

    /**
     * The outbox as a resume reads it: rows appended as they commit, read by id. The live stream publishes a row
     * only after appending it, as the listener only publishes what committed.
     */
    static final class FakeOutbox {
        private final List<OutboxEvent> rows = new ArrayList<>();

        synchronized OutboxEvent append(String table) {
            OutboxEvent e = event(rows.size() + 1, table);
            rows.add(e);
            return e;
        }

        synchronized List<OutboxEvent> after(long id, int limit, String table) {
            return rows.stream().filter(e -> e.id() > id && e.table().equals(table)).limit(limit).toList();
        }

        synchronized int size() {
            return rows.size();
        }

        /** Commits a row and hands it to the hub, as the listener does. */
        void commitAndPublish(Hub hub, String table) {
            hub.publish(List.of(append(table)));
        }
    }

    /**
     * A resume by position: pages of one table's rows after the last id it delivered; live events above it are
     * new.
     */
    static class FakeBacklog implements Backlog {
        private final FakeOutbox outbox;
        private final String table = "orders";
        private final int pageSize;
        private volatile long position;
        private volatile boolean caughtUp;
        final AtomicInteger pages = new AtomicInteger();

        FakeBacklog(FakeOutbox outbox, long from, int pageSize) {
            this.outbox = outbox;
            this.position = from;
            this.pageSize = pageSize;
        }

        @Override
        public List<Publication> nextPage() {
            pages.incrementAndGet();
            List<OutboxEvent> page = outbox.after(position, pageSize, table);
            if (!page.isEmpty()) {
                position = page.getLast().id();
            }
            caughtUp = page.size() < pageSize;
            return page.stream().map(Publication::new).toList();
        }

        @Override
        public boolean caughtUp() {
            return caughtUp;
        }

        @Override
        public boolean notDelivered(Publication publication) {
            return publication.event().id() > position;
        }
    }

    @Test
    void aBacklogThenLiveEventsWithoutAGapOrARepeat() {
        Hub hub = hub(1_000);
        FakeOutbox outbox = new FakeOutbox();
        for (int i = 0; i < 10; i++) {
            outbox.append("orders");
        }
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        // pages of 4: [1-4], [5-8], then a short last page
        Gate inFirstPage = t.gate(w -> w instanceof Event e && e.id() == 2);
        Gate inLastPage = t.gate(w -> w instanceof Event e && e.id() == 9);
        FakeBacklog backlog = new FakeBacklog(outbox, 0, 4);

        attach(c, t, s, Optional.of(backlog));
        inFirstPage.awaitReached();
        outbox.commitAndPublish(hub, "orders");     // 11: live, and read again by the last page
        inFirstPage.release();
        inLastPage.awaitReached();                  // the last page read [9, 10, 11]: caught up
        outbox.commitAndPublish(hub, "orders");     // 12 and 13: live only, after the backlog's last read
        outbox.commitAndPublish(hub, "orders");
        inLastPage.release();
        outbox.commitAndPublish(hub, "orders");     // 14 and 15: plain live events
        outbox.commitAndPublish(hub, "orders");
        HubFixtures.waiting().until(() -> t.eventIds().size() >= 15);
        sync(c, t);

        assertThat(t.eventIds()).containsExactlyElementsOf(LongStream.rangeClosed(1, 15).boxed().toList());
        assertThat(backlog.pages.get()).isEqualTo(3);
        assertThat(t.written().getFirst()).as("subscribed comes first")
                .isInstanceOfSatisfying(Sent.class, m -> assertThat(m.message()).isInstanceOf(Message.Subscribed.class));
    }

    @Test
    void aBacklogChasingLiveEventsDeliversEachOnce() {
        Hub hub = hub(1_000);
        FakeOutbox outbox = new FakeOutbox();
        for (int i = 0; i < 10; i++) {
            outbox.append("orders");
        }
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        // the writer stops before each of its first 16 event writes; at every other one a live event commits
        List<Gate> gates = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            gates.add(t.gate(w -> w instanceof Event));
        }
        FakeBacklog backlog = new FakeBacklog(outbox, 0, 3);

        attach(c, t, s, Optional.of(backlog));
        for (int i = 0; i < gates.size(); i++) {
            gates.get(i).awaitReached();
            if (i % 2 == 0) {
                outbox.commitAndPublish(hub, "orders");
            }
            gates.get(i).release();
        }
        for (int i = 0; i < 5; i++) {
            outbox.commitAndPublish(hub, "orders");
        }
        HubFixtures.waiting().until(() -> t.eventIds().size() >= outbox.size());
        sync(c, t);

        assertThat(t.eventIds()).containsExactlyElementsOf(LongStream.rangeClosed(1, outbox.size()).boxed().toList());
        assertThat(backlog.caughtUp()).isTrue();
    }

    @Test
    void aBacklogRacingAFreeRunningPublisherStillGivesEveryEventOnceInOrder() throws Exception {
        Hub hub = hub(1_000_000);
        FakeOutbox outbox = new FakeOutbox();
        for (int i = 0; i < 500; i++) {
            outbox.append("orders");
        }
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        AtomicBoolean go = new AtomicBoolean();
        Thread publisher = Thread.ofVirtual().uncaughtExceptionHandler((th, e) -> escaped.add(e)).start(() -> {
            while (!go.get()) {
                Thread.onSpinWait();
            }
            for (int i = 0; i < 3_000; i++) {
                outbox.commitAndPublish(hub, i % 5 == 0 ? "other" : "orders");
                if (i % 50 == 0) {
                    Thread.yield();
                }
            }
        });
        FakeBacklog backlog = new FakeBacklog(outbox, 0, 7) {
            @Override
            public List<Publication> nextPage() {
                go.set(true);
                return super.nextPage();
            }
        };

        c.attach(s, Optional.of(backlog), new Message.Subscribed(Optional.of("r1"), "s-1", s.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "gone"));
        publisher.join(Duration.ofSeconds(30));
        assertThat(publisher.isAlive()).isFalse();
        List<Long> expected = outbox.after(0, Integer.MAX_VALUE, "orders").stream().map(OutboxEvent::id).toList();
        HubFixtures.waiting().until(() -> t.eventIds().size() >= expected.size());
        sync(c, t);

        assertThat(t.eventIds()).containsExactlyElementsOf(expected);
        assertThat(backlog.pages.get()).as("the replay really overlapped the live stream").isGreaterThan(1);
    }

    @Test
    void liveEventsOverflowingWhileAnOutboxBacklogReplaysAreReadFromTheOutboxAgain() {
        Hub hub = hub(4);
        FakeOutbox outbox = new FakeOutbox();
        for (int i = 0; i < 6; i++) {
            outbox.append("orders");
        }
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        List<Gate> gates = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            gates.add(t.gate(w -> w instanceof Event));
        }
        FakeBacklog backlog = new FakeBacklog(outbox, 0, 3);

        attach(c, t, s, Optional.of(backlog));
        for (Gate g : gates) {
            g.awaitReached();
            outbox.commitAndPublish(hub, "orders"); // three per page: more than 4 held after two pages
            g.release();
        }
        HubFixtures.waiting().until(() -> t.eventIds().size() >= outbox.size() || t.closed.isDone());
        sync(c, t);

        assertThat(t.closed).as("a replay goes at the client's pace: not a slow consumer").isNotDone();
        assertThat(t.eventIds()).containsExactlyElementsOf(LongStream.rangeClosed(1, outbox.size()).boxed().toList());
    }

    /**
     * Handing over a detached queue goes through the same replay as a resume. When more live events pile up during
     * it than the client buffer holds, the replay drops them and reads "the backlog" once more, on the grounds
     * that they are in the outbox. But the queue's backlog ({@link Backlog#of}) is not the outbox: reading it again
     * repeats the queued events, and the dropped live events are lost.
     */
    @Test
    void liveEventsOverflowingWhileADetachedQueueIsHandedOverAreNeitherRepeatedNorLost() {
        Hub hub = hub(2);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        hub.publish(events("orders", 1, 2));       // queued while detached
        assertThat(s.status().queued()).isEqualTo(2);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Gate firstQueued = t.gate(w -> w instanceof Event e && e.id() == 1);
        Gate ping = t.gate(w -> w instanceof Sent m && m.message().requestId().equals(Optional.of("mid")));

        attach(c, t, s);
        firstQueued.awaitReached();                // writing the queue: the attachment is live already
        hub.publish(events("orders", 3, 4));       // two live events: the buffer's limit, not past it
        c.send(new Message.Pong(Optional.of("mid")));
        firstQueued.release();
        ping.awaitReached();                       // the replay has taken 3 and 4 aside and answers the ping
        hub.publish(events("orders", 5));
        ping.release();
        sync(c, t);

        List<Long> ids = t.eventIds();
        assertThat(ids).as("events written: %s", ids).doesNotHaveDuplicates();
        if (!t.closed.isDone()) {
            assertThat(ids).containsExactly(1L, 2L, 3L, 4L, 5L);
        }
    }

    @Test
    void theQueuedEventsComeBeforeLiveOnesThatArriveDuringTheirReplay() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        hub.publish(events("orders", 1, 2, 3));
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Gate stuck = t.gate(w -> w instanceof Event e && e.id() == 2);

        attach(c, t, s);
        stuck.awaitReached();
        hub.publish(events("orders", 4, 5));
        stuck.release();
        hub.publish(events("orders", 6));
        sync(c, t);

        assertThat(t.eventIds()).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
    }

    @Test
    void aBacklogReplacesTheQueue() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        hub.publish(events("orders", 1, 2));
        assertThat(hub.queuedEvents()).isEqualTo(2);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);

        attach(c, t, s, Optional.of(Backlog.of(List.of(new Publication(event(2, "orders"))))));
        hub.publish(events("orders", 3));
        sync(c, t);

        assertThat(t.eventIds()).containsExactly(2L, 3L);
        assertThat(s.status().queued()).isZero();
        assertThat(hub.queuedEvents()).as("the queue's memory is given back").isZero();
    }

    @Test
    void aMessageQueuedBeforeAnAttachIsAnsweredFirst() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);

        c.send(new Message.Pong(Optional.of("p1")));
        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.of("r1"), "s-1", s.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "gone"));
        c.send(new Message.Pong(Optional.of("p2")));
        start(c, escaped);
        sync(c, t);

        assertThat(t.messages().subList(0, 3)).extracting(Message::requestId)
                .containsExactly(Optional.of("p1"), Optional.of("r1"), Optional.of("p2"));
    }

    /**
     * The WebSocket endpoint refuses a second subscribe to a subscription the connection is attached to by asking
     * {@link Client#attachedTo}, which only knows attachments the writer has carried out. Two subscribe frames in
     * a row (or one while the writer is busy with a backlog) both pass that check and queue two attaches: the
     * writer then attaches the connection twice. Whatever it answers the second time, one connection must not get
     * an event twice, nor keep getting events after it detached.
     */
    @Test
    void attachingTheSameSubscriptionTwiceDeliversEachEventOnce() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);

        // both requests are queued before the writer gets to the first, as the endpoint allows
        assertThat(c.attachedTo("s-1")).isFalse();
        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.of("r1"), "s-1", s.tables()),
                 Message.Error.answering(Optional.of("r1"), ErrorCode.NOT_FOUND, "gone"));
        assertThat(c.attachedTo("s-1")).as("queued counts as attached, so the endpoint refuses a second").isTrue();
        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.of("r2"), "s-1", s.tables()),
                 Message.Error.answering(Optional.of("r2"), ErrorCode.NOT_FOUND, "gone"));
        start(c, escaped);
        sync(c, t);

        hub.publish(events("orders", 1));
        sync(c, t);
        assertThat(t.eventIds("s-1")).as("one connection, one subscription").containsExactly(1L);

        c.detach("s-1", Optional.empty());
        sync(c, t);
        hub.publish(events("orders", 2));
        sync(c, t);
        assertThat(t.eventIds("s-1")).as("nothing after detaching").containsExactly(1L);
        assertThat(s.status().attached()).isFalse();
    }

    @Test
    void subscriptionCountIncludesAttachesStillQueued() {
        Hub hub = hub(100);
        Subscription a = hub.subscribe("s-a", "k", List.of("orders"), true);
        Subscription b = hub.subscribe("s-b", "k", List.of("orders"), true);
        hub.end(b);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);

        c.attach(a, Optional.empty(), new Message.Subscribed(Optional.of("r1"), "s-a", a.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "gone"));
        c.attach(b, Optional.empty(), new Message.Subscribed(Optional.of("r2"), "s-b", b.tables()),
                 Message.Error.answering(Optional.of("r2"), ErrorCode.NOT_FOUND, "gone"));
        assertThat(c.subscriptionCount()).isEqualTo(2);
        start(c, escaped);
        sync(c, t);

        assertThat(c.subscriptionCount()).as("the ended one did not attach").isEqualTo(1);
        assertThat(c.attachedTo("s-a")).isTrue();
        assertThat(c.attachedTo("s-b")).isFalse();
        c.detach("s-a", Optional.empty());
        sync(c, t);
        assertThat(c.subscriptionCount()).isZero();
    }

    @Test
    void transportActionsRunOnTheWriterInQueueOrder() {
        Hub hub = hub(100);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        java.util.concurrent.atomic.AtomicReference<Thread> ranOn = new java.util.concurrent.atomic.AtomicReference<>();

        c.send(new Message.Pong(Optional.of("p1")));
        c.perform(transport -> {
            ranOn.set(Thread.currentThread());
            transport.message(new Message.Pong(Optional.of("action")));
        });
        c.send(new Message.Pong(Optional.of("p2")));
        sync(c, t);

        assertThat(t.messages().subList(0, 3)).extracting(Message::requestId)
                .containsExactly(Optional.of("p1"), Optional.of("action"), Optional.of("p2"));
        assertThat(t.writerThreads()).containsExactly(ranOn.get());
    }

    @Test
    void aShutdownAfterQueuedClosesWithTheLastCursorWritten() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport busy = new RecordingTransport();
        RecordingTransport idle = new RecordingTransport();
        Client c = connect(hub, "c1", busy);
        Client quiet = connect(hub, "c2", idle);
        start(c, escaped);
        start(quiet, escaped);
        attach(c, busy, s);

        hub.publish(events("orders", 1, 2));
        hub.closeAllAfterQueued(Disconnect.SHUTDOWN);

        Disconnect d = busy.awaitClosed();
        assertThat(busy.eventIds()).containsExactly(1L, 2L);
        assertThat(d.code()).isEqualTo(1001);
        assertThat(d.reason()).isEqualTo(new Publication(event(2, "orders")).cursor());
        Disconnect nothingWritten = idle.awaitClosed();
        assertThat(nothingWritten.code()).isEqualTo(1001);
        assertThat(nothingWritten.reason()).isEqualTo(Disconnect.SHUTDOWN.reason());
    }

    @Test
    void anSseStreamAttachingToAnEndedSubscriptionEnds() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        hub.end(s);
        RecordingTransport t = RecordingTransport.sse();
        Client c = connect(hub, "c1", t);
        start(c, escaped);

        c.attach(s, Optional.empty(), new Message.Subscribed(Optional.empty(), "s-1", s.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "no such subscription"));

        Disconnect d = t.awaitClosed();
        assertThat(d.error()).hasValueSatisfying(e -> assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND));
        assertThat(t.messages(Message.Subscribed.class)).isEmpty();
        assertThat(t.messages(Message.Error.class)).hasSize(1);
    }

    // ---- closing ----

    @Test
    void closeAfterQueuedWritesWhatWasQueuedFirst() {
        Hub hub = hub(100);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        Message.Error badRequest = Message.Error.answering(Optional.of("r2"), ErrorCode.BAD_REQUEST, "bad");
        Disconnect tooMany = Disconnect.tooManyBadRequests();

        c.send(new Message.Pong(Optional.of("r1")));
        c.send(badRequest);
        c.closeAfterQueued(tooMany);
        c.send(new Message.Pong(Optional.of("after")));
        start(c, escaped);

        assertThat(t.awaitClosed()).isEqualTo(tooMany);
        awaitFinished(c);
        assertThat(t.messages()).containsExactly(new Message.Pong(Optional.of("r1")), badRequest);
    }

    @Test
    void closeAfterQueuedSendsTheDisconnectsErrorLast() {
        Hub hub = hub(100);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Disconnect d = Disconnect.unauthorized("key expired");

        c.send(new Message.Pong(Optional.of("r1")));
        c.closeAfterQueued(d);

        assertThat(t.awaitClosed()).isEqualTo(d);
        assertThat(t.messages()).containsExactly(new Message.Pong(Optional.of("r1")), d.error().orElseThrow());
    }

    @Test
    void closeStopsAnIdleWriterPromptly() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();   // keepalive every hour: the writer sleeps in its poll
        Client c = connect(hub, "c1", t);
        Thread writer = start(c, escaped);
        attach(c, t, s);

        long started = System.nanoTime();
        c.close(Disconnect.SHUTDOWN);

        assertThat(t.awaitClosed()).isEqualTo(Disconnect.SHUTDOWN);
        awaitFinished(c);
        HubFixtures.waiting().until(() -> !writer.isAlive());
        assertThat((System.nanoTime() - started) / 1_000_000).isLessThan(2_000);
        assertThat(hub.clients()).doesNotContain(c);
        assertThat(s.status().attached()).isFalse();
        assertThat(t.keepalives.get()).isZero();
    }

    @Test
    void closeSkipsWhatIsStillQueued() {
        Hub hub = hub(100_000);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        for (int i = 0; i < 10_000; i++) {
            c.send(new Message.Pong(Optional.of("p" + i)));
        }
        Disconnect d = Disconnect.unauthorized("revoked");
        c.close(d);
        c.close(Disconnect.SHUTDOWN);       // the first reason wins
        start(c, escaped);

        assertThat(t.awaitClosed()).isEqualTo(d);
        assertThat(t.messages()).containsExactly(d.error().orElseThrow());
        assertThat(t.closes.get()).isEqualTo(1);
    }

    @Test
    void closeStopsAReplayThatNeverCatchesUp() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Backlog endless = new Backlog() {
            private long n;

            @Override
            public List<Publication> nextPage() {
                n++;
                return List.of(new Publication(event(n, "orders")));
            }

            @Override
            public boolean caughtUp() {
                return false;
            }

            @Override
            public boolean notDelivered(Publication publication) {
                return true;
            }
        };

        attach(c, t, s, Optional.of(endless));
        HubFixtures.waiting().until(() -> t.events().size() >= 100);
        c.close(Disconnect.SHUTDOWN);

        assertThat(t.awaitClosed()).isEqualTo(Disconnect.SHUTDOWN);
        awaitFinished(c);
        assertThat(hub.subscription("s-1")).as("its own subscription ended with it").isEmpty();
    }

    @Test
    void aFailingBacklogEndsTheConnectionWithAnInternalError() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        Backlog broken = new Backlog() {
            @Override
            public List<Publication> nextPage() throws Exception {
                throw new java.sql.SQLException("database gone");
            }

            @Override
            public boolean caughtUp() {
                return false;
            }

            @Override
            public boolean notDelivered(Publication publication) {
                return true;
            }
        };

        c.attach(s, Optional.of(broken), new Message.Subscribed(Optional.of("r1"), "s-1", s.tables()),
                 Message.Error.of(ErrorCode.NOT_FOUND, "gone"));

        Disconnect d = t.awaitClosed();
        assertThat(d.code()).isEqualTo(1011);
        Message.Error error = t.messages(Message.Error.class).getLast();
        assertThat(error.code()).isEqualTo(ErrorCode.INTERNAL);
        assertThat(error.message()).doesNotContain("database gone").doesNotContain("SQLException");
        awaitFinished(c);
        assertThat(s.status().attached()).isFalse();
    }

    @Test
    void aDeadPeerEndsTheConnectionQuietlyAndDetachesIt() {
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = hub(100, 100, 1L << 30, metrics);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);
        t.failWhen(w -> w instanceof Event e && e.id() == 2);

        hub.publish(events("orders", 1, 2, 3));

        assertThat(t.awaitClosed()).isEqualTo(Disconnect.GONE);
        awaitFinished(c);
        assertThat(t.eventIds()).containsExactly(1L);
        assertThat(t.messages(Message.Error.class)).isEmpty();
        assertThat(hub.clients()).doesNotContain(c);
        assertThat(s.status().attached()).isFalse();

        int queued = s.status().queued();     // 3 may have come after the writer had already left
        hub.publish(events("orders", 4));
        assertThat(s.status().queued()).as("detached: the durable subscription queues again").isEqualTo(queued + 1);
    }

    // ---- detach ----

    @Test
    void detachAnswersAndStopsTheEvents() {
        Hub hub = hub(100);
        Subscription durable = hub.subscribe("s-1", "k", List.of("orders"), true);
        Subscription own = hub.subscribe("s-2", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, durable);
        attach(c, t, own);

        hub.publish(events("orders", 1));
        c.detach("s-1", Optional.of(new Message.Unsubscribed(Optional.of("r1"), "s-1")));
        c.detach("s-2", Optional.empty());
        c.detach("s-unknown", Optional.of(new Message.Unsubscribed(Optional.of("r2"), "s-unknown")));
        sync(c, t);
        hub.publish(events("orders", 2));
        sync(c, t);

        assertThat(t.eventIds("s-1")).containsExactly(1L);
        assertThat(t.eventIds("s-2")).containsExactly(1L);
        assertThat(t.messages(Message.Unsubscribed.class)).extracting(Message::requestId)
                .containsExactly(Optional.of("r1"), Optional.of("r2"));
        assertThat(durable.status().queued()).isEqualTo(1);
        assertThat(durable.status().attached()).isFalse();
        assertThat(hub.subscription("s-2")).as("a stream's own subscription ends when detached").isEmpty();
        assertThat(c.subscriptionIds()).isEmpty();
    }

    // ---- keepalive and metrics ----

    @Test
    void anIdleConnectionGetsKeepalives() {
        Hub hub = hub(100);
        RecordingTransport t = new RecordingTransport("sse", true, Duration.ofMillis(20));
        Client c = connect(hub, "c1", t);
        start(c, escaped);

        // the hub's tick (once a second in the service) asks idle connections for a keepalive
        HubFixtures.waiting().until(() -> {
            hub.tick();
            return t.keepalives.get() >= 3;
        });
        c.close(Disconnect.SHUTDOWN);
        t.awaitClosed();
        assertThat(t.flushes.get()).as("each keepalive is pushed out").isGreaterThanOrEqualTo(3);
    }

    @Test
    void writtenEventsAndErrorsAreReported() {
        CountingMetrics metrics = new CountingMetrics();
        Hub hub = hub(100, 100, 1L << 30, metrics);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        start(c, escaped);
        attach(c, t, s);

        hub.publish(events("orders", 1, 2, 3));
        c.send(Message.Error.of(ErrorCode.BAD_REQUEST, "bad"));
        sync(c, t);

        assertThat(metrics.delivered.get()).isEqualTo(3);
        assertThat(metrics.received.get()).isEqualTo(3);
        assertThat(metrics.errors.get(ErrorCode.BAD_REQUEST).get()).isEqualTo(1);
    }

    @Test
    void abortGoesToTheTransport() {
        Hub hub = hub(100);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        assertThat(c.closingForNanos()).isEqualTo(-1);

        c.close(Disconnect.SHUTDOWN);
        assertThat(c.closingForNanos()).isGreaterThanOrEqualTo(0);
        HubFixtures.waiting().until(() -> {
            hub.abortStuck(Duration.ZERO);
            return t.aborts.get() >= 1;
        });

        start(c, escaped);
        awaitFinished(c);
        assertThat(c.closingForNanos()).as("finished: no longer closing").isEqualTo(-1);
        int aborts = t.aborts.get();
        hub.abortStuck(Duration.ZERO);
        assertThat(t.aborts.get()).isEqualTo(aborts);
        assertThat(c.keyId()).isEqualTo("key-c1");
        assertThat(c.transportName()).isEqualTo("websocket");
    }
}
