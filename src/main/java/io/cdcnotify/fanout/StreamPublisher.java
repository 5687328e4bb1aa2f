package io.cdcnotify.fanout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.cdcnotify.listen.EventSink;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.outbox.OutboxReader;
import io.nats.client.JetStream;
import io.nats.client.PublishOptions;
import io.nats.client.api.PublishAck;
import io.nats.client.impl.Headers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The leader's sink: each event the listener reads goes to the stream, once, in read order.
 *
 * <p>Every message names the message that must precede it in the stream, by sequence
 * ({@code Nats-Expected-Last-Sequence}) and by id ({@code Nats-Expected-Last-Msg-Id}: this publisher's previous
 * message, or the stream's last when it started), so the stream only ever grows by one publisher's chain of
 * events: a message that fails makes every later one fail too (no gap), and the messages of a publisher that
 * was replaced (a second instance that still believes it leads, or publishes the client library held back
 * through a reconnect) are refused, even when the stream happens to have grown by the same count.
 * Each carries the exact reader position after its event ({@value #POSITION}), from which a new leader goes on
 * without repeating or skipping anything, and the event's cursor as {@code Nats-Msg-Id}. After any failure
 * this publisher is spent: the relay starts a new one from what the stream holds.
 *
 * <p>The events the stream acknowledged go to this instance's hub at once, in stream order ({@code local}):
 * the leader's own clients need not wait for the round trip through the stream's consumer, which then drops
 * them by sequence. Only stored events are handed over, so clients see exactly what the stream holds.
 */
final class StreamPublisher implements EventSink {

    static final String POSITION = "Cdc-Position";

    private static final Logger LOG = LoggerFactory.getLogger(StreamPublisher.class);

    private final JetStream jetStream;
    private final Subjects subjects;
    private final Duration timeout;
    private final AtomicLong published;
    private final Local local;
    private final String stream;
    /** The stream's sequence of the last message this publisher stored (written by the publishing thread). */
    private volatile long lastSequence;
    /** The id of the stream's last message as this publisher knows it; null for an empty stream. */
    private String lastMessageId;
    private volatile boolean spent;

    /** Where stored events go on this instance: {@link StreamConsumer#fedByLeader}. */
    interface Local {
        void stored(long firstSequence, List<OutboxEvent> events);
    }

    /**
     * @param lastSequence  the stream's last sequence, which the first message must follow
     * @param lastMessageId the id of the stream's last message, or null when it holds none
     * @param published     counts the messages the stream stored
     * @param local         takes the stored events, in order, for this instance's hub
     */
    StreamPublisher(JetStream jetStream, String stream, Subjects subjects, long lastSequence, String lastMessageId,
                    Duration timeout, AtomicLong published, Local local) {
        this.jetStream = jetStream;
        this.stream = stream;
        this.subjects = subjects;
        this.lastSequence = lastSequence;
        this.lastMessageId = lastMessageId;
        this.timeout = timeout;
        this.published = published;
        this.local = local;
    }

    /** True once a publish failed or leadership ended: nothing more goes out through this publisher. */
    boolean spent() {
        return spent;
    }

    void spend() {
        spent = true;
    }

    /** The stream's sequence of the last message this publisher stored, or the one it started after. */
    long lastStored() {
        return lastSequence;
    }

    @Override
    public void publish(OutboxReader.Page page) {
        if (spent) {
            return;
        }
        List<OutboxEvent> events = page.events();
        List<CompletableFuture<PublishAck>> acks = new ArrayList<>(events.size());
        String previous = lastMessageId;
        int stored = 0;
        try {
            for (int i = 0; i < events.size(); i++) {
                OutboxEvent event = events.get(i);
                String cursor = event.cursor().encode();
                Headers headers = new Headers().put(POSITION, page.positionAfter(i).encode());
                PublishOptions.Builder options = PublishOptions.builder()
                        .expectedStream(stream)
                        .expectedLastSequence(lastSequence + i)
                        .messageId(cursor);
                if (previous != null) {
                    options.expectedLastMsgId(previous);
                }
                acks.add(jetStream.publishAsync(subjects.of(event.table()), headers, EventCodec.encode(event, cursor),
                                                options.build()));
                previous = cursor;
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            try {
                for (CompletableFuture<PublishAck> ack : acks) {
                    PublishAck a = ack.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    if (a.isDuplicate()) {
                        // another publisher stored this event first: what follows is not this publisher's to add
                        throw new IllegalStateException("the stream already holds message " + a.getSeqno());
                    }
                    lastSequence = a.getSeqno();
                    stored++;
                    published.incrementAndGet();
                }
            } finally {
                if (stored > 0) {
                    local.stored(lastSequence - stored + 1, events.subList(0, stored));
                }
            }
            lastMessageId = previous;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            spent = true;
        } catch (Exception e) {
            spent = true;
            LOG.warn("publishing to stream {} failed after sequence {}; the relay goes on from what the stream holds: {}",
                     stream, lastSequence, e.getMessage());
        }
    }
}
