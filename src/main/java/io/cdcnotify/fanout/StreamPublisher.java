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
 * <p>Every message says which stream sequence must precede it ({@code Nats-Expected-Last-Sequence}), so the
 * stream only ever grows by this leader's events in order: a message that fails makes every later one of the
 * page fail too (no gap), and a second instance that still believes it leads is refused (no interleaving).
 * Each carries the exact reader position after its event ({@value #POSITION}), from which a new leader goes on
 * without repeating or skipping anything, and the event's cursor as {@code Nats-Msg-Id}. After any failure
 * this publisher is spent: the relay starts a new one from what the stream holds.
 */
final class StreamPublisher implements EventSink {

    static final String POSITION = "Cdc-Position";

    private static final Logger LOG = LoggerFactory.getLogger(StreamPublisher.class);

    private final JetStream jetStream;
    private final Subjects subjects;
    private final Duration timeout;
    private final AtomicLong published;
    private final String stream;
    private long lastSequence;
    private volatile boolean spent;

    /**
     * @param lastSequence the stream's last sequence, which the first message must follow
     * @param published    counts the messages the stream stored
     */
    StreamPublisher(JetStream jetStream, String stream, Subjects subjects, long lastSequence, Duration timeout,
                    AtomicLong published) {
        this.jetStream = jetStream;
        this.stream = stream;
        this.subjects = subjects;
        this.lastSequence = lastSequence;
        this.timeout = timeout;
        this.published = published;
    }

    /** True once a publish failed or leadership ended: nothing more goes out through this publisher. */
    boolean spent() {
        return spent;
    }

    void spend() {
        spent = true;
    }

    @Override
    public void publish(OutboxReader.Page page) {
        if (spent) {
            return;
        }
        List<OutboxEvent> events = page.events();
        List<CompletableFuture<PublishAck>> acks = new ArrayList<>(events.size());
        try {
            for (int i = 0; i < events.size(); i++) {
                OutboxEvent event = events.get(i);
                String cursor = event.cursor().encode();
                Headers headers = new Headers().put(POSITION, page.positionAfter(i).encode());
                PublishOptions options = PublishOptions.builder()
                        .expectedStream(stream)
                        .expectedLastSequence(lastSequence + i)
                        .messageId(cursor)
                        .build();
                acks.add(jetStream.publishAsync(subjects.of(event.table()), headers, EventCodec.encode(event, cursor),
                                                options));
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            for (CompletableFuture<PublishAck> ack : acks) {
                PublishAck a = ack.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (!a.isDuplicate()) {
                    lastSequence = a.getSeqno();
                    published.incrementAndGet();
                }
            }
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
