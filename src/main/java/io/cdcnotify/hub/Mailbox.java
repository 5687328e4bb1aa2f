package io.cdcnotify.hub;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * A connection's queue: many producers, one consumer (the connection's writer). {@link #offer} never blocks and
 * takes no lock; it wakes the writer only when the writer is asleep, so a busy fan-out costs one lock-free
 * enqueue per delivery. The writer sleeps without a timeout: keepalives come from the hub's tick instead of a
 * timed wait, which on a virtual thread would arm a timer on every empty poll.
 */
final class Mailbox {

    private final ConcurrentLinkedQueue<Object> items = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean sleeping = new AtomicBoolean();
    private volatile Thread consumer;

    void offer(Object item) {
        items.offer(item);
        if (sleeping.get() && sleeping.compareAndSet(true, false)) {
            LockSupport.unpark(consumer);
        }
    }

    /** The next item, or null. */
    Object poll() {
        return items.poll();
    }

    /** The next item, waiting for one as long as it takes. Only the consumer calls this. */
    Object take() throws InterruptedException {
        consumer = Thread.currentThread();
        while (true) {
            Object item = items.poll();
            if (item != null) {
                return item;
            }
            sleeping.set(true);
            // a producer that enqueued before seeing `sleeping` is caught by this second look
            item = items.poll();
            if (item != null) {
                sleeping.set(false);
                return item;
            }
            LockSupport.park(this);
            sleeping.set(false);
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    void clear() {
        items.clear();
    }
}
