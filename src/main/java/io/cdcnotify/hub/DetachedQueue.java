package io.cdcnotify.hub;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The events a durable subscription keeps while no client is attached: bounded in count per subscription and,
 * through a shared {@link Budget}, in bytes (each event's encoded size, {@link Publication#weight()}) across all
 * subscriptions and within the service's total {@link Memory}. Past any bound the oldest go, and are counted.
 * Guarded by its subscription's lock.
 */
final class DetachedQueue {

    private final ArrayDeque<Publication> events = new ArrayDeque<>();
    private final int maxEvents;
    private final Budget budget;
    private final HubMetrics metrics;
    private long bytes;
    private long dropped;

    DetachedQueue(int maxEvents, Budget budget, HubMetrics metrics) {
        this.maxEvents = maxEvents;
        this.budget = budget;
        this.metrics = metrics;
    }

    void add(Publication publication) {
        long weight = publication.weight();
        while (!events.isEmpty() && (events.size() >= maxEvents || !budget.fits(weight))) {
            dropOldest();
        }
        if (maxEvents == 0 || !budget.fits(weight)) {
            dropped++;
            metrics.dropped(HubMetrics.DropReason.QUEUE_FULL);
            return;
        }
        events.addLast(publication);
        bytes += weight;
        budget.take(weight);
        publication.hold(budget.memory);
    }

    /** Hands over everything queued, oldest first, and empties the queue. */
    List<Publication> drain() {
        List<Publication> all = new ArrayList<>(events);
        clear();
        return all;
    }

    void clear() {
        budget.give(bytes, events.size());
        for (Publication p : events) {
            p.release(budget.memory);
        }
        events.clear();
        bytes = 0;
    }

    int size() {
        return events.size();
    }

    long dropped() {
        return dropped;
    }

    private void dropOldest() {
        Publication oldest = events.removeFirst();
        long weight = oldest.weight();
        bytes -= weight;
        budget.give(weight, 1);
        oldest.release(budget.memory);
        dropped++;
        metrics.dropped(HubMetrics.DropReason.QUEUE_FULL);
    }

    /** Bytes all detached queues of this instance may hold together, within the service's total. */
    static final class Budget {
        private final long limit;
        private final Memory memory;
        private final AtomicLong used = new AtomicLong();
        private final AtomicLong events = new AtomicLong();

        Budget(long limit) {
            this(limit, new Memory(Long.MAX_VALUE));
        }

        Budget(long limit, Memory memory) {
            this.limit = limit;
            this.memory = memory;
        }

        boolean fits(long weight) {
            return used.get() + weight <= limit && memory.fits(weight);
        }

        /** Bytes queued in all detached queues together. */
        long bytes() {
            return used.get();
        }

        void take(long weight) {
            used.addAndGet(weight);
            events.incrementAndGet();
        }

        void give(long weight, int count) {
            used.addAndGet(-weight);
            events.addAndGet(-count);
        }

        /** Events queued in all detached queues together. */
        long events() {
            return events.get();
        }
    }
}
