package io.cdcnotify.hub;

import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;

import io.cdcnotify.wire.Filter;
import io.cdcnotify.wire.TableNames;

/**
 * A subscription as the hub routes it: its tables, the clients attached to it now, and, for a durable
 * subscription, the queue that holds its events while none is.
 *
 * <p>{@link #offer} runs on the listener thread; attach and detach on clients' threads. One short lock makes
 * "queue while detached" and "hand the queue over on attach" atomic; nothing under it blocks.
 */
public final class Subscription {

    /** The table name that means every table. */
    public static final String EVERY_TABLE = TableNames.EVERY_TABLE;

    private static final Attachment[] NONE = new Attachment[0];

    private final String id;
    private final String keyId;
    private final List<String> tables;
    private final Instant createdAt;
    private final DetachedQueue queue;
    private final Optional<Filter> filter;
    private final ReentrantLock lock = new ReentrantLock();
    private Attachment[] attached = NONE;
    private boolean ended;
    /** A client on another instance is attached: no need to queue here. */
    private volatile boolean attachedElsewhere;
    /** Cursor of the last event written to one of its clients, on this instance. */
    private volatile String lastCursor;

    Subscription(String id, String keyId, List<String> tables, Instant createdAt, DetachedQueue queue,
                 Optional<Filter> filter) {
        this.filter = filter;
        this.id = id;
        this.keyId = keyId;
        this.tables = List.copyOf(tables);
        this.createdAt = createdAt;
        this.queue = queue;
    }

    public String id() {
        return id;
    }

    /** The API key that owns it. */
    public String keyId() {
        return keyId;
    }

    public List<String> tables() {
        return tables;
    }

    public Instant createdAt() {
        return createdAt;
    }

    /** Which of its tables' events it wants; empty for all. */
    public Optional<Filter> filter() {
        return filter;
    }

    /** True when it outlives its clients. */
    public boolean durable() {
        return queue != null;
    }

    boolean everyTable() {
        return tables.contains(EVERY_TABLE);
    }

    /** Routes one event: to every attached client, or into the queue when none is. */
    void offer(Publication publication) {
        lock.lock();
        try {
            if (attached.length > 0) {
                for (Attachment a : attached) {
                    a.client().deliver(a, publication);
                }
            } else if (queue != null && !ended && !attachedElsewhere) {
                queue.add(publication);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Attaches a client, and hands it what waited, oldest first. Empty when the subscription has ended.
     */
    Optional<List<Publication>> attach(Attachment attachment) {
        lock.lock();
        try {
            if (ended) {
                return Optional.empty();
            }
            List<Publication> waiting = queue == null ? List.of() : queue.drain();
            attached = Arrays.copyOf(attached, attached.length + 1);
            attached[attached.length - 1] = attachment;
            return Optional.of(waiting);
        } finally {
            lock.unlock();
        }
    }

    /** Detaches a client; from the last detach on, the subscription queues. */
    void detach(Attachment attachment) {
        lock.lock();
        try {
            int i = Arrays.asList(attached).indexOf(attachment);
            if (i < 0) {
                return;
            }
            Attachment[] rest = new Attachment[attached.length - 1];
            System.arraycopy(attached, 0, rest, 0, i);
            System.arraycopy(attached, i + 1, rest, i, rest.length - i);
            attached = rest;
        } finally {
            lock.unlock();
        }
    }

    /** Drops the queue if the client resuming will read the outbox instead. */
    void clearQueue() {
        lock.lock();
        try {
            if (queue != null) {
                queue.clear();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Ends the subscription: its clients are told, its queue is freed. Returns the clients that were attached. */
    List<Attachment> end() {
        lock.lock();
        try {
            ended = true;
            if (queue != null) {
                queue.clear();
            }
            List<Attachment> were = List.of(attached);
            attached = NONE;
            return were;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether a client on another instance is attached (learned from the database, about once a second). When
     * one is, what this instance queued since its own last client left went to that client: the queue is
     * dropped, since it fills only while no client is attached anywhere.
     */
    public void attachedElsewhere(boolean elsewhere) {
        lock.lock();
        try {
            this.attachedElsewhere = elsewhere;
            if (elsewhere && attached.length == 0 && queue != null) {
                queue.clear();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Clients of this instance attached now. */
    public int attachedHere() {
        lock.lock();
        try {
            return attached.length;
        } finally {
            lock.unlock();
        }
    }

    void delivered(String cursor) {
        lastCursor = cursor;
    }

    /** The cursor of the last event written to one of its clients on this instance, if any. */
    public Optional<String> lastCursor() {
        return Optional.ofNullable(lastCursor);
    }

    /** What {@code GET /v1/subscriptions/{id}} reports of this instance's view. */
    public Status status() {
        lock.lock();
        try {
            return new Status(attached.length > 0 || attachedElsewhere,
                              queue == null ? 0 : queue.size(),
                              queue == null ? 0 : queue.dropped());
        } finally {
            lock.unlock();
        }
    }

    /**
     * @param attached      whether a client is attached, here or (as far as this instance knows) elsewhere
     * @param queued        events waiting in memory
     * @param dropped       events dropped from the queue since creation
     */
    public record Status(boolean attached, int queued, long dropped) {
    }

    @Override
    public String toString() {
        return "Subscription[" + id + " " + tables + "]";
    }
}
