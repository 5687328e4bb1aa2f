package io.cdcnotify.hub;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * A connection's queue: many producers, one consumer (the connection's writer). {@link #offer} never blocks and
 * takes no lock; it wakes the writer only when the writer is asleep, so a busy fan-out costs one lock-free
 * enqueue per delivery. The writer sleeps without a timeout: keepalives come from the hub's tick instead of a
 * timed wait, which on a virtual thread would arm a timer on every empty poll.
 *
 * <p>The writer sleeps in one of two ways. Parked in {@link #take} (a thread that must stay anyway, as an SSE
 * handler's), or, after {@link #consumeOnDemand}, by ending its thread when {@link #pollOrSleep} finds the queue
 * empty: the next offer then starts a new consumer. Whoever turns {@code sleeping} from true to false owns the
 * consumer's role, so there is never more than one.
 */
final class Mailbox {

    private final ConcurrentLinkedQueue<Object> items = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean sleeping = new AtomicBoolean();
    private volatile Thread consumer;
    /** Starts a consumer on demand; null while the consumer parks in {@link #take}. */
    private volatile Runnable starter;

    void offer(Object item) {
        items.offer(item);
        if (sleeping.get() && sleeping.compareAndSet(true, false)) {
            Runnable start = starter;
            if (start != null) {
                start.run();
            } else {
                LockSupport.unpark(consumer);
            }
        }
    }

    /**
     * From now on no consumer waits: {@code start} (which must not block) begins one whenever an item arrives
     * while none runs, and the consumer takes items with {@link #pollOrSleep} until that answers null.
     */
    void consumeOnDemand(Runnable start) {
        starter = start;
        sleeping.set(true);
        if (!items.isEmpty() && sleeping.compareAndSet(true, false)) {
            start.run();
        }
    }

    /**
     * The next item for an on-demand consumer, or null once the queue is empty: the consumer is asleep then, and
     * must leave at once (the next offer may already have started another).
     */
    Object pollOrSleep() {
        while (true) {
            Object item = items.poll();
            if (item != null) {
                return item;
            }
            sleeping.set(true);
            // a producer that enqueued before seeing `sleeping` is caught by this second look; one that saw it has
            // turned it back to false and started a consumer: this one leaves
            if (items.isEmpty() || !sleeping.compareAndSet(true, false)) {
                return null;
            }
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
