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
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One connection, whatever its transport: a queue that anyone may add to without waiting, and one writer
 * that drains it onto the wire: a thread of the connection's parked between bursts ({@link #run}), or one thread
 * per burst, started when something is queued ({@link #writeOnDemand}).
 *
 * <p>The queue holds live events and commands (attach, send, end). Fan-out only enqueues. What the connection
 * holds is bounded twice: past {@code bufferEvents} live events not yet written, or once it holds
 * {@code bufferBytes} or more of anything (events by their encoded size, replies, errors, live events held
 * aside during a replay), the client is a slow consumer: later events are dropped and the writer closes the
 * connection with the cursor of the last event it wrote. The byte test looks at what was held before the new
 * item, so one event larger than the whole budget still reaches a client that keeps up. Backlogs (a resume
 * from the outbox, a detached queue) are read by the writer at the client's pace and do not count here; they
 * count in the service's {@link Memory}, as everything above does.
 *
 * <p>A connection that must end (slow, revoked, over a limit) while its writer is stuck in a write to a peer
 * that does not read is cut from outside by the hub ({@link Transport#abort()}), and what it held is freed at
 * once.
 */
public final class Client {

    private static final Logger LOG = LoggerFactory.getLogger(Client.class);
    private static final Object WAKE = new Object();
    private static final Object KEEPALIVE = new Object();
    private static final Object PONG = new Object();
    private static final int BATCH = 256;
    /** What a queued command or marker costs: a queue node and a small object. */
    private static final int NODE = 48;

    private final String id;
    private final String keyId;
    private final Transport transport;
    private final Hub hub;
    private final int bufferEvents;
    private final long bufferBytes;
    private final Memory memory;
    private final HubMetrics metrics;
    private final Clock clock;
    private final Mailbox queue = new Mailbox();
    private final AtomicInteger live = new AtomicInteger();
    /** Bytes held for this connection: queued items and live events held aside during a replay. */
    private final AtomicLong bytes = new AtomicLong();
    private final Map<String, Attachment> attachments = new ConcurrentHashMap<>();
    /** Subscriptions with an attach request queued and not yet carried out. */
    private final java.util.Set<String> attaching = ConcurrentHashMap.newKeySet();
    /** The answer to the latest ping frame not yet answered: one is enough (RFC 6455, section 5.5.3). */
    private final AtomicReference<TransportAction> pendingPong = new AtomicReference<>();
    private final AtomicBoolean keepalivePending = new AtomicBoolean();
    private volatile boolean slow;
    private volatile long slowSince;
    /** Why the connection is ending now; the first reason wins. */
    private final AtomicReference<Disconnect> closing = new AtomicReference<>();
    private volatile long closingSince;
    /** A close was queued behind what the client has not read yet. */
    private volatile boolean closeQueued;
    private volatile boolean finished;

    /** Writer-thread state. */
    private String lastCursor;
    /** The event being written, for the log line of a failure; -1 between events. */
    private long writingEventId = -1;
    /** Items taken from the queue and put off until a replay ends. */
    private final ArrayDeque<Object> deferred = new ArrayDeque<>();
    /** When the writer last wrote (read by the hub's tick to decide on a keepalive). */
    private volatile long lastWrite = System.nanoTime();
    /** When the writer entered the transport call it is in now; 0 outside one. Read by the hub's tick. */
    private volatile long writingSince;

    Client(String id, String keyId, Transport transport, Hub hub, int bufferEvents, long bufferBytes, Memory memory,
           HubMetrics metrics, Clock clock) {
        this.id = id;
        this.keyId = keyId;
        this.transport = transport;
        this.hub = hub;
        this.bufferEvents = bufferEvents;
        this.bufferBytes = bufferBytes;
        this.memory = memory;
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

    /** Bytes this connection holds now (what its budget counts). */
    public long bufferedBytes() {
        return bytes.get();
    }

    // ---- called from any thread; none of these waits ----

    /** A live event for one of this client's attachments. Never blocks: the listener thread calls it. */
    void deliver(Attachment attachment, Publication publication) {
        if (slow) {
            metrics.dropped(HubMetrics.DropReason.SLOW_CONSUMER);
            return;
        }
        if (closing.get() != null || finished) {
            return; // closing for another reason: the client resumes with its cursor
        }
        if (live.incrementAndGet() > bufferEvents) {
            live.decrementAndGet();
            becomeSlow();
            metrics.dropped(HubMetrics.DropReason.SLOW_CONSUMER);
            return;
        }
        long weight = publication.weight();
        if (bytes.getAndAdd(weight) >= bufferBytes) {
            bytes.addAndGet(-weight);
            live.decrementAndGet();
            becomeSlow();
            metrics.dropped(HubMetrics.DropReason.SLOW_CONSUMER);
            return;
        }
        publication.hold(memory);
        queue.offer(new Delivery(attachment, publication));
        if (finished) {
            drain(); // the writer ended meanwhile: give back what nobody will write
        }
    }

    /** Queues a message for the writer. Past the byte budget the client is a slow consumer instead. */
    public void send(Message message) {
        enqueue(message, true);
    }

    /**
     * Attaches this client to a subscription. The writer registers it for live events, then sends
     * {@code reply}, then any backlog (or what waited in the subscription's queue when there is none), then the
     * live events. If the subscription has ended meanwhile, {@code ifEnded} is sent instead.
     */
    public void attach(Subscription subscription, Optional<Backlog> backlog, Message reply, Message ifEnded) {
        attaching.add(subscription.id());
        enqueue(new Attach(subscription, backlog, reply, ifEnded), true);
    }

    /** Something for the writer to do with the transport, in queue order. */
    public void perform(TransportAction action) {
        enqueue(action, true);
    }

    /**
     * Answers a ping frame: {@code action} writes the pong. While an answer waits to be written, a newer one
     * replaces it, so a ping flood from a peer that does not read holds one pong, not one per ping.
     */
    public void pong(TransportAction action) {
        if (pendingPong.getAndSet(action) == null) {
            enqueue(PONG, false);
        }
    }

    /** Work for the writer thread on its transport. */
    @FunctionalInterface
    public interface TransportAction {
        void run(Transport transport) throws IOException;
    }

    /** Detaches this client from a subscription, then sends {@code reply} (if any). */
    public void detach(String subscriptionId, Optional<Message> reply) {
        enqueue(new Detach(subscriptionId, reply), true);
    }

    /** The subscription ended elsewhere: the client is told (WebSocket) or its stream ends (SSE). */
    void ended(Attachment attachment) {
        attachment.markDetached();
        enqueue(new Ended(attachment), false);
    }

    /**
     * Ends the connection after what is already queued has been written: the answer to the request that
     * caused it, and the ones before, reach the client first.
     */
    public void closeAfterQueued(Disconnect disconnect) {
        closeQueued = true;
        enqueue(disconnect, false);
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

    /** True once the connection is to end: closing, a slow consumer, or a close queued. */
    boolean ending() {
        return closeQueued || stopping();
    }

    /** True once the writer is to write nothing more from the queue (the closing error aside). */
    boolean stopping() {
        return slow || closing.get() != null;
    }

    /** Nanos the writer has been inside one transport call (a write the peer does not take), or -1. */
    long stuckForNanos(long now) {
        long since = writingSince;
        return since == 0 ? -1 : now - since;
    }

    /** Cut as a slow consumer by the hub: the service as a whole holds too much. */
    void cutAsSlow() {
        becomeSlow();
        drain();
    }

    /**
     * Gives back everything queued once the connection is ending: nothing more of it will be written. The
     * writer takes the items it still needs (the wake-up) from the same queue, so one is put back.
     */
    void drain() {
        Object item;
        while ((item = queue.poll()) != null) {
            release(item);
        }
        if (!finished) {
            queue.offer(WAKE);
        }
    }

    void abort() {
        transport.abort();
    }

    private void becomeSlow() {
        if (!slow) {
            slowSince = System.nanoTime();
            slow = true;
            queue.offer(WAKE);
        }
    }

    /**
     * Nanos since the client became a slow consumer, when that is the only reason it ends; -1 otherwise. A slow
     * consumer's queue is freed at once, so only its socket waits: it gets longer to read again and be told
     * its cursor than a revoked connection does.
     */
    long slowOnlyForNanos(long now) {
        return slow && closing.get() == null && !closeQueued ? now - slowSince : -1;
    }

    /**
     * Queues an item, counted against the budgets. {@code bounded} items turn the client into a slow consumer
     * once it holds its budget; the others are too small and too few to matter (one per subscription event,
     * per close, per pong slot). Nothing is queued for a connection that is ending: it will write nothing more.
     */
    private void enqueue(Object item, boolean bounded) {
        if (finished || (bounded && (slow || closing.get() != null))) {
            if (item instanceof Attach a) {
                attaching.remove(a.subscription.id());
            }
            return;
        }
        long weight = weight(item);
        if (bytes.getAndAdd(weight) >= bufferBytes && bounded) {
            bytes.addAndGet(-weight);
            if (item instanceof Attach a) {
                attaching.remove(a.subscription.id());
            }
            becomeSlow();
            return;
        }
        memory.add(weight);
        queue.offer(item);
        if (finished) {
            drain();
        }
    }

    /** What a queued item counts in the budgets; the same value when it is taken out. */
    private static long weight(Object item) {
        return switch (item) {
            case Delivery d -> d.publication.weight();
            case Message m -> NODE + weight(m);
            default -> NODE;
        };
    }

    private static long weight(Message m) {
        return switch (m) {
            case Message.Error e -> 64 + e.message().length() + e.requestId().map(String::length).orElse(0)
                    + e.cursor().map(String::length).orElse(0);
            case Message.Subscribed s -> 64 + s.subscriptionId().length() + s.requestId().map(String::length).orElse(0)
                    + s.tables().stream().mapToInt(t -> 16 + t.length()).sum();
            case Message.Unsubscribed u -> 48 + u.subscriptionId().length() + u.requestId().map(String::length).orElse(0);
            case Message.Pong p -> 32 + p.requestId().map(String::length).orElse(0);
            case Message.AuthOk a -> 32 + a.connectionId().length();
        };
    }

    /** An item leaves the connection's buffer: written, dropped, or given back. */
    private void release(Object item) {
        if (item == WAKE) {
            return; // never counted: offered straight to the queue
        }
        long weight = weight(item);
        bytes.addAndGet(-weight);
        if (item instanceof Delivery d) {
            d.publication.release(memory);
        } else {
            memory.add(-weight);
        }
    }

    // ---- the writer ----

    /**
     * Drains the queue onto the wire until the connection ends. Runs on the connection's own thread (the SSE
     * handler's, or a test's), parked between bursts.
     */
    public void run() {
        write(true);
    }

    /**
     * Writes on threads made by {@code threads} instead of one thread for the connection's life: one starts when
     * something is queued while none runs, drains the queue and ends once it is empty. An idle connection then
     * keeps no parked writer (its frozen stack and thread objects, ~2.5 kB). Still one writer at a time, in queue
     * order; the last one closes the connection as {@link #run} does. Call once, instead of {@link #run}.
     */
    public void writeOnDemand(ThreadFactory threads) {
        queue.consumeOnDemand(() -> threads.newThread(() -> write(false)).start());
    }

    /** @param wait park while the queue is empty, else end the thread (the next item starts another) */
    private void write(boolean wait) {
        String outer = MDC.get("connection_id");
        MDC.put("connection_id", id);
        Disconnect end = Disconnect.GONE;
        boolean asleep = false;
        try {
            writingEventId = -1;
            end = loop(wait);
            asleep = end == null;
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
            if (!asleep) { // asleep, the connection's state may belong to the next writer already
                writingSince = 0;
                finish(end);
            }
            if (outer == null) {
                MDC.remove("connection_id");
            } else {
                MDC.put("connection_id", outer);
            }
        }
    }

    /** Why the connection ends; null when an on-demand writer found nothing to do and went to sleep. */
    private Disconnect loop(boolean wait) throws Exception {
        while (true) {
            Disconnect stop = stopReason();
            if (stop != null) {
                return stop;
            }
            Object item = !deferred.isEmpty() ? deferred.poll() : wait ? queue.take() : queue.pollOrSleep();
            if (item == null) {
                return null;
            }
            // the burst's items count in the budgets until the flush has put them on the wire
            List<Object> burst = new ArrayList<>();
            try {
                burst.add(item);
                handle(item);
                for (int n = 0; n < BATCH && stopReason() == null && (item = queue.poll()) != null; n++) {
                    burst.add(item);
                    handle(item);
                }
                flush();
            } finally {
                burst.forEach(this::release);
            }
        }
    }

    /** Handles one item and puts what it wrote on the wire before it leaves the budgets. */
    private void handleAndFlush(Object item) throws Exception {
        try {
            handle(item);
            flush();
        } finally {
            release(item);
        }
    }

    private void flush() throws IOException {
        writing();
        transport.flush();
        written();
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
        if (now - lastWrite >= transport.keepaliveInterval().toNanos() && keepalivePending.compareAndSet(false, true)) {
            enqueue(KEEPALIVE, false);
        }
    }

    private void handle(Object item) throws Exception {
        switch (item) {
            case Delivery d -> {
                live.decrementAndGet();
                if (d.attachment.wanted(d.publication)) {
                    writeEvent(d.attachment, d.publication);
                }
            }
            case Message m -> write(m);
            case Disconnect d -> close(d == Disconnect.SHUTDOWN ? Disconnect.shutdown(Optional.ofNullable(lastCursor)) : d);
            case TransportAction action -> {
                writing();
                action.run(transport);
                written();
            }
            case Attach a -> attachNow(a);
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
                if (item == PONG) {
                    TransportAction pong = pendingPong.getAndSet(null);
                    if (pong != null) {
                        writing();
                        pong.run(transport);
                        written();
                    }
                } else if (item == KEEPALIVE) {
                    keepalivePending.set(false);
                    if (System.nanoTime() - lastWrite >= transport.keepaliveInterval().toNanos()) {
                        writing();
                        transport.keepalive();
                        written();
                    }
                }
                // WAKE: the loop re-checks why it was woken
            }
        }
    }

    private void attachNow(Attach a) throws Exception {
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
        replay(attachment, backlog, a.backlog.isPresent());
    }

    /**
     * Writes a backlog, then switches the attachment to live events without a gap or a repeat: live events that
     * arrive meanwhile are held aside; when the backlog has caught up, those it did not deliver are written, and
     * from then on the backlog's own test filters the live stream. If too many pile up, they are dropped and the
     * backlog reads once more, because what they held is in the outbox.
     *
     * <p>Live events held aside stay counted in the connection's bytes until written or dropped; each backlog
     * page counts in the service's memory while it is being written.
     */
    private void replay(Attachment attachment, Backlog backlog, boolean filterLive) throws Exception {
        List<Delivery> held = new ArrayList<>();
        long heldBytes = 0;
        try {
            while (!attachment.detached() && stopReason() == null) {
                boolean overflowed = false;
                writePage(attachment, backlog.nextPage());
                Object item;
                while ((item = queue.poll()) != null) {
                    if (item instanceof Delivery d && d.attachment == attachment) {
                        live.decrementAndGet();
                        if (backlog.rereadable() && (held.size() >= bufferEvents || heldBytes >= bufferBytes / 2)) {
                            held.forEach(this::release);
                            held.clear();
                            heldBytes = 0;
                            overflowed = true;
                        }
                        held.add(d);
                        heldBytes += d.publication.weight();
                    } else if (item instanceof Attach) {
                        deferred.add(item);
                    } else {
                        handleAndFlush(item);
                    }
                }
                if (backlog.caughtUp() && !overflowed) {
                    break;
                }
            }
            if (filterLive) {
                attachment.liveFilter(backlog::notDelivered);
            }
            for (Delivery d : held) {
                if (stopReason() == null && attachment.wanted(d.publication)) {
                    writeEvent(attachment, d.publication);
                }
            }
            flush();
        } finally {
            held.forEach(this::release);
        }
    }

    /** Writes one backlog page; the page counts in the service's memory until it is on the wire. */
    private void writePage(Attachment attachment, List<Publication> page) throws IOException {
        for (Publication p : page) {
            p.hold(memory);
        }
        try {
            for (Publication p : page) {
                if (stopReason() == null) {
                    writeEvent(attachment, p);
                }
            }
            flush();
        } finally {
            for (Publication p : page) {
                p.release(memory);
            }
        }
    }

    private void writeEvent(Attachment attachment, Publication publication) throws IOException {
        writingEventId = publication.event().id();
        writing();
        transport.event(attachment.subscription().id(), publication);
        written();
        lastCursor = publication.cursor();
        attachment.subscription().delivered(lastCursor);
        metrics.delivered(transport.name(),
                          clock.millis() * 1000 - publication.event().createdAtMicros());
    }

    private void write(Message message) throws IOException {
        if (message instanceof Message.Error e) {
            metrics.clientError(e.code());
            logError(e);
        }
        writing();
        transport.message(message);
        written();
    }

    private void writing() {
        writingSince = System.nanoTime();
    }

    private void written() {
        long now = System.nanoTime();
        writingSince = 0;
        lastWrite = now;
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
                writing();
                transport.flush();
                written();
            }
        } catch (IOException | UncheckedIOException e) {
            LOG.debug("could not send the closing error: {}", e.toString());
        } finally {
            try {
                writing();
                transport.close(end);
            } finally {
                writingSince = 0;
            }
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
            deferred.forEach(this::release);
            deferred.clear();
            pendingPong.set(null);
            drain();
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
