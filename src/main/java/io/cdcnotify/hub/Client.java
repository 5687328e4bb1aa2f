package io.cdcnotify.hub;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One connection, whatever its transport: a queue that anyone may add to without waiting, and one writer
 * thread that drains it onto the wire.
 *
 * <p>The queue holds live events and commands (attach, send, end). Fan-out only enqueues; past
 * {@code bufferEvents} live events not yet written, the client is a slow consumer: later events are dropped
 * and the writer closes the connection with the cursor of the last event it wrote. Backlogs (a resume from
 * the outbox, a detached queue) are read by the writer at the client's pace and do not count.
 */
public final class Client {

    private static final Logger LOG = LoggerFactory.getLogger(Client.class);
    private static final Object WAKE = new Object();
    private static final Object KEEPALIVE = new Object();
    private static final int BATCH = 256;

    private final String id;
    private final String keyId;
    private final Transport transport;
    private final Hub hub;
    private final int bufferEvents;
    private final HubMetrics metrics;
    private final Clock clock;
    private final Mailbox queue = new Mailbox();
    private final AtomicInteger live = new AtomicInteger();
    private final Map<String, Attachment> attachments = new ConcurrentHashMap<>();
    /** Subscriptions with an attach request queued and not yet carried out. */
    private final java.util.Set<String> attaching = ConcurrentHashMap.newKeySet();
    private volatile boolean slow;
    /** Why the connection is ending now; the first reason wins. */
    private final AtomicReference<Disconnect> closing = new AtomicReference<>();
    private volatile long closingSince;
    private volatile boolean finished;

    /** Writer-thread state. */
    private String lastCursor;
    /** The event being written, for the log line of a failure; -1 between events. */
    private long writingEventId = -1;
    /** When the writer last wrote (read by the hub's tick to decide on a keepalive). */
    private volatile long lastWrite = System.nanoTime();

    Client(String id, String keyId, Transport transport, Hub hub, int bufferEvents, HubMetrics metrics, Clock clock) {
        this.id = id;
        this.keyId = keyId;
        this.transport = transport;
        this.hub = hub;
        this.bufferEvents = bufferEvents;
        this.metrics = metrics;
        this.clock = clock;
    }

    public String id() {
        return id;
    }

    /** The API key the connection authenticated with. */
    public String keyId() {
        return keyId;
    }

    public String transportName() {
        return transport.name();
    }

    /** Ids of the subscriptions this client is attached to now. */
    public List<String> subscriptionIds() {
        return List.copyOf(attachments.keySet());
    }

    /** Subscriptions attached, or asked for and not yet attached: what a per-connection limit counts. */
    public int subscriptionCount() {
        return attachments.size() + attaching.size();
    }

    /** Attached to it, or about to be. */
    public boolean attachedTo(String subscriptionId) {
        return attachments.containsKey(subscriptionId) || attaching.contains(subscriptionId);
    }

    // ---- called from any thread; none of these waits ----

    /** A live event for one of this client's attachments. Never blocks: the listener thread calls it. */
    void deliver(Attachment attachment, Publication publication) {
        if (slow) {
            metrics.dropped(HubMetrics.DropReason.SLOW_CONSUMER);
            return;
        }
        if (closing.get() != null) {
            return; // closing for another reason: the client resumes with its cursor
        }
        if (live.incrementAndGet() > bufferEvents) {
            live.decrementAndGet();
            slow = true;
            metrics.dropped(HubMetrics.DropReason.SLOW_CONSUMER);
            queue.offer(WAKE);
            return;
        }
        queue.offer(new Delivery(attachment, publication));
    }

    /** Queues a message for the writer. */
    public void send(Message message) {
        queue.offer(message);
    }

    /**
     * Attaches this client to a subscription. The writer registers it for live events, then sends
     * {@code reply}, then any backlog (or what waited in the subscription's queue when there is none), then the
     * live events. If the subscription has ended meanwhile, {@code ifEnded} is sent instead.
     */
    public void attach(Subscription subscription, Optional<Backlog> backlog, Message reply, Message ifEnded) {
        attaching.add(subscription.id());
        queue.offer(new Attach(subscription, backlog, reply, ifEnded));
    }

    /** Something for the writer to do with the transport, in queue order (a WebSocket pong, say). */
    public void perform(TransportAction action) {
        queue.offer(action);
    }

    /** Work for the writer thread on its transport. */
    @FunctionalInterface
    public interface TransportAction {
        void run(Transport transport) throws IOException;
    }

    /** Detaches this client from a subscription, then sends {@code reply} (if any). */
    public void detach(String subscriptionId, Optional<Message> reply) {
        queue.offer(new Detach(subscriptionId, reply));
    }

    /** The subscription ended elsewhere: the client is told (WebSocket) or its stream ends (SSE). */
    void ended(Attachment attachment) {
        attachment.markDetached();
        queue.offer(new Ended(attachment));
    }

    /**
     * Ends the connection after what is already queued has been written: the answer to the request that
     * caused it, and the ones before, reach the client first.
     */
    public void closeAfterQueued(Disconnect disconnect) {
        queue.offer(disconnect);
    }

    /**
     * Ends the connection now: the writer stops at the next item, sends the disconnect's error, then closes.
     * The first reason wins.
     */
    public void close(Disconnect disconnect) {
        if (closing.compareAndSet(null, disconnect)) {
            closingSince = System.nanoTime();
        }
        queue.offer(WAKE);
    }

    boolean finished() {
        return finished;
    }

    /** Nanos since {@link #close} was first called, or -1. */
    long closingForNanos() {
        return closing.get() == null || finished ? -1 : System.nanoTime() - closingSince;
    }

    void abort() {
        transport.abort();
    }

    // ---- the writer ----

    /**
     * Drains the queue onto the wire until the connection ends. Runs on the connection's own thread (the SSE
     * handler's, or a virtual thread per WebSocket).
     */
    public void run() {
        String outer = MDC.get("connection_id");
        writingEventId = -1;
        MDC.put("connection_id", id);
        Disconnect end = Disconnect.GONE;
        try {
            end = loop();
        } catch (IOException | UncheckedIOException e) {
            LOG.debug("connection lost while writing: {}", e.toString());
            end = Disconnect.GONE;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            end = closing.get() == null ? Disconnect.GONE : closing.get();
        } catch (Exception e) {
            if (writingEventId >= 0) {
                MDC.put("event_id", Long.toString(writingEventId));
            }
            LOG.error("writer failed", e);
            MDC.remove("event_id");
            end = Disconnect.internal();
        } finally {
            finish(end);
            if (outer == null) {
                MDC.remove("connection_id");
            } else {
                MDC.put("connection_id", outer);
            }
        }
    }

    private Disconnect loop() throws Exception {
        ArrayDeque<Object> deferred = new ArrayDeque<>();
        while (true) {
            Disconnect stop = stopReason();
            if (stop != null) {
                return stop;
            }
            Object item = deferred.isEmpty() ? queue.take() : deferred.poll();
            handle(item, deferred);
            for (int n = 0; n < BATCH && stopReason() == null && (item = queue.poll()) != null; n++) {
                handle(item, deferred);
            }
            transport.flush();
        }
    }

    private Disconnect stopReason() {
        Disconnect d = closing.get();
        if (d != null) {
            return d;
        }
        if (slow) {
            return Disconnect.slowConsumer(Optional.ofNullable(lastCursor));
        }
        return null;
    }

    /** Called about once a second by the hub: asks the writer for a keepalive when the connection is idle. */
    void tick(long now) {
        if (now - lastWrite >= transport.keepaliveInterval().toNanos()) {
            queue.offer(KEEPALIVE);
        }
    }

    private void handle(Object item, ArrayDeque<Object> deferred) throws Exception {
        switch (item) {
            case Delivery d -> {
                live.decrementAndGet();
                if (d.attachment.wanted(d.publication)) {
                    writeEvent(d.attachment, d.publication);
                }
            }
            case Message m -> write(m);
            case Disconnect d -> close(d == Disconnect.SHUTDOWN ? Disconnect.shutdown(Optional.ofNullable(lastCursor)) : d);
            case TransportAction action -> action.run(transport);
            case Attach a -> attachNow(a, deferred);
            case Detach d -> {
                Attachment a = attachments.remove(d.subscriptionId);
                if (a != null) {
                    a.markDetached();
                    hub.detached(a);
                }
                if (d.reply.isPresent()) {
                    write(d.reply.get());
                }
            }
            case Ended e -> {
                if (!attachments.remove(e.attachment.subscription().id(), e.attachment)) {
                    return; // this client detached first, and was answered then
                }
                if (transport.endsWithSubscription()) {
                    close(Disconnect.subscriptionGone(e.attachment.subscription().id()));
                } else {
                    write(new Message.Unsubscribed(Optional.empty(), e.attachment.subscription().id()));
                }
            }
            default -> {
                if (item == KEEPALIVE && System.nanoTime() - lastWrite >= transport.keepaliveInterval().toNanos()) {
                    transport.keepalive();
                    lastWrite = System.nanoTime();
                }
                // WAKE: the loop re-checks why it was woken
            }
        }
    }

    private void attachNow(Attach a, ArrayDeque<Object> deferred) throws Exception {
        if (attachments.containsKey(a.subscription.id())) {
            attaching.remove(a.subscription.id());
            write(a.reply); // already attached: nothing to do twice
            return;
        }
        Attachment attachment = new Attachment(this, a.subscription);
        Optional<List<Publication>> waiting = hub.attach(attachment);
        if (waiting.isPresent()) {
            attachments.put(a.subscription.id(), attachment);
        }
        attaching.remove(a.subscription.id());
        if (waiting.isEmpty()) {
            if (transport.endsWithSubscription()) {
                close(Disconnect.subscriptionGone(a.subscription.id()));
            } else {
                write(a.ifEnded);
            }
            return;
        }
        write(a.reply);
        Backlog backlog = a.backlog.orElseGet(() -> Backlog.of(waiting.get()));
        if (a.backlog.isPresent()) {
            a.subscription.clearQueue();
        }
        replay(attachment, backlog, deferred, a.backlog.isPresent());
    }

    /**
     * Writes a backlog, then switches the attachment to live events without a gap or a repeat: live events that
     * arrive meanwhile are held aside; when the backlog has caught up, those it did not deliver are written, and
     * from then on the backlog's own test filters the live stream. If too many pile up, they are dropped and the
     * backlog reads once more, because what they held is in the outbox.
     */
    private void replay(Attachment attachment, Backlog backlog, ArrayDeque<Object> deferred, boolean filterLive)
            throws Exception {
        List<Publication> held = new ArrayList<>();
        while (!attachment.detached() && stopReason() == null) {
            boolean overflowed = false;
            for (Publication p : backlog.nextPage()) {
                writeEvent(attachment, p);
            }
            transport.flush();
            Object item;
            while ((item = queue.poll()) != null) {
                if (item instanceof Delivery d && d.attachment == attachment) {
                    live.decrementAndGet();
                    if (held.size() >= bufferEvents && backlog.rereadable()) {
                        held.clear();
                        overflowed = true;
                    }
                    held.add(d.publication);
                } else if (item instanceof Attach) {
                    deferred.add(item);
                } else {
                    handle(item, deferred);
                }
            }
            if (backlog.caughtUp() && !overflowed) {
                break;
            }
        }
        if (filterLive) {
            attachment.liveFilter(backlog::notDelivered);
        }
        for (Publication p : held) {
            if (attachment.wanted(p)) {
                writeEvent(attachment, p);
            }
        }
    }

    private void writeEvent(Attachment attachment, Publication publication) throws IOException {
        writingEventId = publication.event().id();
        transport.event(attachment.subscription().id(), publication);
        lastCursor = publication.cursor();
        attachment.subscription().delivered(lastCursor);
        lastWrite = System.nanoTime();
        metrics.delivered(transport.name(),
                          clock.millis() * 1000 - publication.event().createdAtMicros());
    }

    private void write(Message message) throws IOException {
        if (message instanceof Message.Error e) {
            metrics.clientError(e.code());
            logError(e);
        }
        transport.message(message);
        lastWrite = System.nanoTime();
    }

    /** Errors sent to a client, at INFO without a stack (a flood of limit_exceeded at DEBUG). */
    static void logError(Message.Error e) {
        if (e.code() == ErrorCode.LIMIT_EXCEEDED) {
            LOG.debug("error sent to the client: {} {}", e.code().wire(), e.message());
        } else {
            LOG.info("error sent to the client: {} {}", e.code().wire(), e.message());
        }
    }

    private void finish(Disconnect end) {
        finished = true;
        try {
            if (end != Disconnect.GONE) {
                if (end.error().isPresent()) {
                    write(end.error().get());
                }
                transport.flush();
            }
        } catch (IOException | UncheckedIOException e) {
            LOG.debug("could not send the closing error: {}", e.toString());
        } finally {
            transport.close(end);
            if (end == Disconnect.GONE) {
                LOG.info("{} connection closed by the client", transport.name());
            } else {
                LOG.info("{} connection closed by the server: {} {}", transport.name(), end.code(), end.reason());
            }
            for (Attachment a : attachments.values()) {
                a.markDetached();
                hub.detached(a);
            }
            attachments.clear();
            queue.clear();
            hub.closed(this, end);
        }
    }

    private record Delivery(Attachment attachment, Publication publication) {
    }

    private record Attach(Subscription subscription, Optional<Backlog> backlog, Message reply, Message ifEnded) {
    }

    private record Detach(String subscriptionId, Optional<Message> reply) {
    }

    private record Ended(Attachment attachment) {
    }
}
