package io.cdcnotify.fanout;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import io.cdcnotify.outbox.OutboxEvent;
import io.nats.client.ConsumeOptions;
import io.nats.client.Connection;
import io.nats.client.Message;
import io.nats.client.MessageConsumer;
import io.nats.client.OrderedConsumerContext;
import io.nats.client.api.DeliverPolicy;
import io.nats.client.api.OrderedConsumerConfiguration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds this instance's hub from the stream: an ordered consumer (in stream order, recreated by the client
 * after a gap or a server restart from the last sequence it delivered), started at the stream's end.
 *
 * <p>Two paths feed the hub, one at a time (this object's lock; the hub has one caller at a time, as the
 * listener thread is its only caller in database mode): the consumer's dispatcher thread with each message, and,
 * on the leader, the publisher with the events the stream has just acknowledged ({@link #fedByLeader}), so that
 * the leader's own clients do not wait for their events' round trip through NATS. Both go by stream sequence: a
 * sequence at or below the last one fed is dropped, so whichever path brings an event first feeds it and the
 * other drops it; a jump past the next one means the stream no longer holds what this instance missed, which
 * {@code onGap} handles.
 */
final class StreamConsumer {

    private static final Logger LOG = LoggerFactory.getLogger(StreamConsumer.class);
    private static final int RECENT = 100_000;

    private final Connection nats;
    private final String stream;
    private final Subjects subjects;
    private final Consumer<List<OutboxEvent>> sink;
    private final Runnable onGap;
    private final Clock clock;
    private MessageConsumer consumer;
    private volatile long lastSequence;
    private volatile long pending;
    private volatile long lastEventId = -1;
    private volatile long lagMillis;
    private volatile long lastProgress;
    /** Ids of the last events fed, so that a repeated event never reaches a client. */
    private final java.util.Map<Long, Boolean> recent = new java.util.LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(java.util.Map.Entry<Long, Boolean> eldest) {
            return size() > RECENT;
        }
    };

    StreamConsumer(Connection nats, String stream, Subjects subjects, Consumer<List<OutboxEvent>> sink,
                   Runnable onGap, Clock clock) {
        this.nats = nats;
        this.stream = stream;
        this.subjects = subjects;
        this.sink = sink;
        this.onGap = onGap;
        this.clock = clock;
    }

    /** Starts after {@code lastSequence}: what the stream already held is history, as the outbox's head is. */
    void start(long lastSequence) throws Exception {
        this.lastSequence = lastSequence;
        subscribe();
    }

    /**
     * A new ordered consumer after the last sequence fed: after a reconnect, or when the stream moved on and this
     * consumer did not. The old one's late messages are dropped by sequence.
     */
    void restart() throws Exception {
        stop();
        subscribe();
        LOG.info("relay consumer restarted after stream sequence {}", lastSequence);
    }

    /** When the last message was fed (nanoTime), or the consumer (re)started. */
    long lastProgress() {
        return lastProgress;
    }

    private void subscribe() throws Exception {
        lastProgress = System.nanoTime();
        OrderedConsumerContext context = nats.getStreamContext(stream).createOrderedConsumer(
                new OrderedConsumerConfiguration()
                        .filterSubject(subjects.all())
                        .deliverPolicy(DeliverPolicy.ByStartSequence)
                        .startSequence(lastSequence + 1));
        consumer = context.consume(ConsumeOptions.builder().expiresIn(5_000).build(), this::onMessage);
    }

    void stop() {
        MessageConsumer c = consumer;
        if (c != null) {
            try {
                c.close();
            } catch (Exception e) {
                LOG.debug("closing the stream consumer: {}", e.getMessage());
            }
        }
    }

    /** Synchronized: after a restart, the old consumer's dispatcher may still be handing over a message. */
    private synchronized void onMessage(Message message) {
        long sequence = message.metaData().streamSequence();
        if (sequence <= lastSequence) {
            return;
        }
        OutboxEvent event;
        try {
            event = EventCodec.decode(message.getData());
        } catch (RuntimeException e) {
            LOG.error("stream message {} is not an event, skipped: {}", sequence, e.getMessage());
            lastSequence = sequence;
            return;
        }
        pending = message.metaData().pendingCount();
        if (accept(sequence, event)) {
            sink.accept(List.of(event));
        }
    }

    /**
     * The leader's path: events the stream has stored, with the sequence of the first (the others follow it one
     * by one), in stream order. Those this instance already fed from the stream are skipped.
     */
    synchronized void fedByLeader(long firstSequence, List<OutboxEvent> events) {
        List<OutboxEvent> fresh = new ArrayList<>(events.size());
        for (int i = 0; i < events.size(); i++) {
            if (firstSequence + i > lastSequence && accept(firstSequence + i, events.get(i))) {
                fresh.add(events.get(i));
            }
        }
        if (!fresh.isEmpty()) {
            sink.accept(fresh);
        }
    }

    /** Takes the event at {@code sequence} (past the last one fed) as fed; false when it must not reach clients. */
    private boolean accept(long sequence, OutboxEvent event) {
        if (sequence != lastSequence + 1) {
            LOG.warn("the stream skipped from {} to {}: the events between are gone from it", lastSequence, sequence);
            onGap.run();
        }
        lastSequence = sequence;
        if (recent.put(event.id(), Boolean.TRUE) != null) {
            // the publishers' chaining should make this impossible; clients must never see it
            LOG.warn("stream message {} repeats event {}: dropped", sequence, event.id());
            return false;
        }
        lastEventId = event.id();
        lagMillis = Math.max(0, clock.millis() - event.createdAtMicros() / 1000);
        lastProgress = System.nanoTime();
        return true;
    }

    /** The stream sequence of the last message fed to the hub. */
    long lastSequence() {
        return lastSequence;
    }

    /** Messages the stream held after the last one fed, when it was delivered. */
    long pending() {
        return pending;
    }

    long lastEventId() {
        return lastEventId;
    }

    long lagMillis() {
        return lagMillis;
    }
}
