package io.cdcnotify.hub;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Clock;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;

/** Events, hubs and writer threads for the hub tests. */
final class HubFixtures {

    static final Duration WAIT = Duration.ofSeconds(10);

    /** Awaitility, polling often: writers answer in microseconds, and the race test attaches thousands of times. */
    static org.awaitility.core.ConditionFactory waiting() {
        return await().atMost(WAIT).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1));
    }

    private HubFixtures() {
    }

    /** An outbox row of its own transaction; the cursor resumes after it. */
    static OutboxEvent event(long id, String table) {
        long xid = 1_000 + id;
        return new OutboxEvent(id, xid, table, "INSERT", "{\"n\":" + id + "}", 1_700_000_000_000_000L + id,
                               new Cursor(xid, id, new long[0]));
    }

    /** An event whose payload is {@code padding} characters long, about that many bytes on the wire. */
    static OutboxEvent bigEvent(long id, String table, int padding) {
        long xid = 1_000 + id;
        return new OutboxEvent(id, xid, table, "INSERT", "{\"pad\":\"" + "x".repeat(padding) + "\"}",
                               1_700_000_000_000_000L + id, new Cursor(xid, id, new long[0]));
    }

    static List<OutboxEvent> events(String table, long... ids) {
        return java.util.Arrays.stream(ids).mapToObj(id -> event(id, table)).toList();
    }

    static Hub hub(int clientBufferEvents, int queueMaxEvents, long queueMaxBytes, HubMetrics metrics) {
        return new Hub(new Hub.Limits(clientBufferEvents, queueMaxEvents, queueMaxBytes), metrics, Clock.systemUTC());
    }

    static Hub hub(Hub.Limits limits, HubMetrics metrics) {
        return new Hub(limits, metrics, Clock.systemUTC());
    }

    static Hub hub(int clientBufferEvents) {
        return hub(clientBufferEvents, 10_000, 1L << 30, HubMetrics.NONE);
    }

    private static final java.util.Map<Client, Thread> WRITERS =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** Runs a client's writer on its own virtual thread; anything thrown out of it lands in {@code escaped}. */
    static Thread start(Client client, Queue<Throwable> escaped) {
        Thread writer = Thread.ofVirtual()
                .name("writer-" + client.id())
                .uncaughtExceptionHandler((t, e) -> escaped.add(e))
                .unstarted(client::run);
        WRITERS.put(client, writer);
        writer.start();
        return writer;
    }

    static Thread start(Client client) {
        return start(client, new ConcurrentLinkedQueue<>());
    }

    static Client connect(Hub hub, String id, RecordingTransport transport) {
        return hub.connect(id, "key-" + id, transport, 1_000).orElseThrow();
    }

    /** Attaches and waits until the writer has answered: from then on the client gets the live events. */
    static void attach(Client client, RecordingTransport transport, Subscription s) {
        attach(client, transport, s, Optional.empty());
    }

    static void attach(Client client, RecordingTransport transport, Subscription s, Optional<Backlog> backlog) {
        String rid = "attach-" + UUID.randomUUID();
        client.attach(s, backlog, new Message.Subscribed(Optional.of(rid), s.id(), s.tables()),
                      Message.Error.answering(Optional.of(rid), ErrorCode.NOT_FOUND, "no such subscription"));
        waiting().until(() -> transport.messages().stream().anyMatch(m -> m.requestId().equals(Optional.of(rid))));
    }

    /**
     * Waits until the writer has handled everything queued before now: a ping goes through the same queue, so
     * once its pong is written every earlier live event has been written (or dropped) too.
     */
    static void sync(Client client, RecordingTransport transport) {
        String marker = "sync-" + UUID.randomUUID();
        client.send(new Message.Pong(Optional.of(marker)));
        waiting().until(() -> transport.hasPong(marker));
    }

    /** Waits until the writer has returned: the client is closed, detached and gone from the hub. */
    static void awaitFinished(Client client) {
        Thread writer = WRITERS.get(client);
        if (writer == null) {
            waiting().until(client::finished);
            return;
        }
        try {
            assertThat(writer.join(WAIT)).as("the writer of %s returned", client.id()).isTrue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void assertNoneEscaped(Queue<Throwable> escaped) {
        assertThat(escaped).as("exceptions thrown out of writers").isEmpty();
    }

    /** Counts what the hub reports. */
    static final class CountingMetrics implements HubMetrics {
        final AtomicLong received = new AtomicLong();
        final AtomicLong delivered = new AtomicLong();
        final Map<DropReason, AtomicLong> dropped = new EnumMap<>(DropReason.class);
        final Map<ErrorCode, AtomicLong> errors = new EnumMap<>(ErrorCode.class);

        CountingMetrics() {
            for (DropReason r : DropReason.values()) {
                dropped.put(r, new AtomicLong());
            }
            for (ErrorCode c : ErrorCode.values()) {
                errors.put(c, new AtomicLong());
            }
        }

        @Override
        public void received(int count) {
            received.addAndGet(count);
        }

        @Override
        public void delivered(String transport, long lagMicros) {
            delivered.incrementAndGet();
        }

        @Override
        public void dropped(DropReason reason) {
            dropped.get(reason).incrementAndGet();
        }

        @Override
        public void clientError(ErrorCode code) {
            errors.get(code).incrementAndGet();
        }

        long drops(DropReason reason) {
            return dropped.get(reason).get();
        }
    }
}
