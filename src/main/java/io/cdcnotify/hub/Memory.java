package io.cdcnotify.hub;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The bytes this instance buffers for clients, against one budget for the whole service: events waiting in
 * connections' queues or held aside during a replay, backlog pages being written, detached subscriptions'
 * queues, and control replies and errors not yet written. An event shared by many buffers counts once (see
 * {@link Publication#hold}); everything else counts where it waits.
 *
 * <p>Past the limit, the hub cuts the connections holding the most as slow consumers, and detached queues drop
 * their oldest events. The counter moves only when a buffer takes or lets go of something, not per write.
 */
final class Memory {

    private final long limit;
    private final AtomicLong used = new AtomicLong();

    Memory(long limit) {
        this.limit = limit;
    }

    void add(long bytes) {
        used.addAndGet(bytes);
    }

    long used() {
        return used.get();
    }

    long limit() {
        return limit;
    }

    /** Bytes over the limit now, or 0. */
    long excess() {
        return Math.max(0, used.get() - limit);
    }

    boolean fits(long bytes) {
        return used.get() + bytes <= limit;
    }
}
