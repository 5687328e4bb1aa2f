package io.cdcnotify.fanout;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
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
 * <p>Publishing does not wait for the stream's acknowledgements: the reader goes on to its next page while
 * they come back (at most {@value #MAX_IN_FLIGHT} messages unacknowledged; the chain above is what keeps a
 * pipeline of them exact). The acknowledgements are taken in publish order as they arrive
 * ({@link #settle}, on the thread that completes them), and the events they confirm go to this instance's hub
 * at once, in stream order ({@code local}): the leader's own clients need not wait for the round trip through
 * the stream's consumer, which then drops them by sequence. Only stored events are handed over, so clients see
 * exactly what the stream holds. A failed, refused or late ({@code timeout}) acknowledgement spends the
 * publisher; what it had in flight after that is for the stream's consumers to deliver, if the stream took it.
 */
final class StreamPublisher implements EventSink {

    static final String POSITION = "Cdc-Position";
    /** Messages published and not yet acknowledged, at most: past it the reader waits for the oldest. */
    static final int MAX_IN_FLIGHT = 10_000;

    private static final Logger LOG = LoggerFactory.getLogger(StreamPublisher.class);

    private record InFlight(CompletableFuture<PublishAck> ack, OutboxEvent event) {
    }

    private final JetStream jetStream;
    private final Subjects subjects;
    private final Duration timeout;
    private final AtomicLong published;
    private final Local local;
    private final String stream;
    /** The sequence the next message must follow (publishing thread only). */
    private long publishedSequence;
    /** The id of the last message this publisher sent, or the stream's last; null for an empty stream. */
    private String lastMessageId;
    /** In publish order; guarded by this. */
    private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
    /** The stream's sequence of the last acknowledged message; guarded by this. */
    private long storedSequence;
    private volatile boolean spent;

    /** Where stored events go on this instance: {@link StreamConsumer#fedByLeader}. */
    interface Local {
        void stored(long firstSequence, List<OutboxEvent> events);
    }

    /**
     * @param lastSequence  the stream's last sequence, which the first message must follow
     * @param lastMessageId the id of the stream's last message, or null when it holds none
     * @param timeout       how long an acknowledgement may take
     * @param published     counts the messages the stream stored
     * @param local         takes the stored events, in order, for this instance's hub
     */
    StreamPublisher(JetStream jetStream, String stream, Subjects subjects, long lastSequence, String lastMessageId,
                    Duration timeout, AtomicLong published, Local local) {
        this.jetStream = jetStream;
        this.stream = stream;
        this.subjects = subjects;
        this.publishedSequence = lastSequence;
        this.storedSequence = lastSequence;
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

    @Override
    public void publish(OutboxReader.Page page) {
        if (spent) {
            return;
        }
        List<OutboxEvent> events = page.events();
        CompletableFuture<?>[] acks = new CompletableFuture<?>[events.size()];
        try {
            for (int i = 0; i < events.size() && !spent; i++) {
                OutboxEvent event = events.get(i);
                String cursor = event.cursor().encode();
                Headers headers = new Headers().put(POSITION, page.positionAfter(i).encode());
                PublishOptions.Builder options = PublishOptions.builder()
                        .expectedStream(stream)
                        .expectedLastSequence(publishedSequence)
                        .messageId(cursor);
                if (lastMessageId != null) {
                    options.expectedLastMsgId(lastMessageId);
                }
                CompletableFuture<PublishAck> ack =
                        jetStream.publishAsync(subjects.of(event.table()), headers, EventCodec.encode(event, cursor),
                                               options.build());
                synchronized (this) {
                    inFlight.add(new InFlight(ack, event));
                }
                acks[i] = ack;
                publishedSequence++;
                lastMessageId = cursor;
            }
        } catch (Exception e) {
            failed(e);
        }
        // one settle per page, when its last acknowledgement is in (they come in order), so the page reaches the
        // hub in one piece as in database mode; the timeout covers a missing one
        CompletableFuture.allOf(java.util.Arrays.stream(acks).filter(java.util.Objects::nonNull)
                                        .toArray(CompletableFuture<?>[]::new))
                .orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .whenComplete((done, e) -> {
                    if (e instanceof TimeoutException || e != null && e.getCause() instanceof TimeoutException) {
                        failed(new TimeoutException());
                    } else {
                        settle();
                    }
                });
        try {
            awaitRoom();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            spent = true;
        }
    }

    /** Past {@link #MAX_IN_FLIGHT}, waits for the oldest acknowledgements (each is bounded by the timeout). */
    private void awaitRoom() throws InterruptedException {
        while (!spent) {
            CompletableFuture<PublishAck> oldest;
            synchronized (this) {
                if (inFlight.size() <= MAX_IN_FLIGHT) {
                    return;
                }
                oldest = inFlight.peek().ack();
            }
            try {
                oldest.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                // settle() takes it
            } catch (TimeoutException e) {
                failed(e);
                return;
            }
            settle();
        }
    }

    /**
     * Takes the acknowledgements that have arrived, oldest first, up to the first one still missing, and hands
     * their events to this instance's hub; the first failure spends the publisher. Under this object's lock, so
     * two acknowledgements completing at once hand their events over in stream order.
     */
    private synchronized void settle() {
        List<OutboxEvent> stored = new ArrayList<>();
        long first = storedSequence + 1;
        while (!inFlight.isEmpty() && inFlight.peek().ack().isDone()) {
            InFlight head = inFlight.poll();
            PublishAck a;
            try {
                a = head.ack().join();
            } catch (CompletionException | CancellationException e) {
                failed(e.getCause() == null ? e : e.getCause());
                break;
            }
            if (a.isDuplicate()) {
                // another publisher stored this event first: what follows is not this publisher's to add
                failed(new IllegalStateException("the stream already holds message " + a.getSeqno()));
                break;
            }
            if (stored.isEmpty()) {
                first = a.getSeqno();
            }
            storedSequence = a.getSeqno();
            published.incrementAndGet();
            stored.add(head.event());
        }
        if (!stored.isEmpty()) {
            local.stored(first, stored);
        }
    }

    private synchronized void failed(Throwable e) {
        inFlight.clear();
        if (!spent) {
            spent = true;
            LOG.warn("publishing to stream {} failed after sequence {}; the relay goes on from what the stream holds: {}",
                     stream, storedSequence, e instanceof TimeoutException ? "no acknowledgement within " + timeout : e.getMessage());
        }
    }
}
