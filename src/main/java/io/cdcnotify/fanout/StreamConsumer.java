package io.cdcnotify.fanout;

import java.time.Clock;
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
 * after a gap or a server restart from the last sequence it delivered), started at the stream's end. Messages
 * arrive on one dispatcher thread, the only caller of the sink, as the listener thread is in database mode.
 * A sequence at or below the last one fed is dropped; a jump past the next one means the stream no longer
 * holds what this instance missed, which {@code onGap} handles.
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
        if (sequence != lastSequence + 1) {
            LOG.warn("the stream skipped from {} to {}: the events between are gone from it", lastSequence, sequence);
            onGap.run();
        }
        OutboxEvent event;
        try {
            event = EventCodec.decode(message.getData());
        } catch (RuntimeException e) {
            LOG.error("stream message {} is not an event, skipped: {}", sequence, e.getMessage());
            lastSequence = sequence;
            return;
        }
        if (recent.put(event.id(), Boolean.TRUE) != null) {
            // the publishers' chaining should make this impossible; clients must never see it
            LOG.warn("stream message {} repeats event {}: dropped", sequence, event.id());
            lastSequence = sequence;
            return;
        }
        sink.accept(List.of(event));
        lastSequence = sequence;
        pending = message.metaData().pendingCount();
        lastEventId = event.id();
        lagMillis = Math.max(0, clock.millis() - event.createdAtMicros() / 1000);
        lastProgress = System.nanoTime();
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
