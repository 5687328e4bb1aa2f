package io.cdcnotify.hub;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Which subscriptions want which table. The publisher reads copy-on-write arrays without a lock; changes are
 * queued and applied in batches, each table's array copied once per batch, not once per change: with one array
 * per subscribe, 10,000 clients subscribing to one table copied 50 million references (and as many bytes of
 * garbage) under that table's lock.
 *
 * <p>A batch is applied by the publisher before it routes ({@link #settle}), so an event published after a
 * change was made sees it, and by whoever queues the {@value #BATCH}th change, so the queue stays short when no
 * events come.
 */
final class Routes {

    static final Subscription[] NONE = new Subscription[0];
    private static final int BATCH = 256;

    private record Change(Subscription subscription, boolean add) {
    }

    private final Map<String, Subscription[]> byTable = new ConcurrentHashMap<>();
    private volatile Subscription[] everyTable = NONE;
    private final ConcurrentLinkedQueue<Change> pending = new ConcurrentLinkedQueue<>();
    /** Changes queued and not yet applied; lowered only after the arrays are written (see {@link #settle}). */
    private final AtomicInteger unapplied = new AtomicInteger();
    private final ReentrantLock applying = new ReentrantLock();

    void add(Subscription s) {
        change(new Change(s, true));
    }

    void remove(Subscription s) {
        change(new Change(s, false));
    }

    /**
     * Applies every change queued before this call. Cheap when there is none: a count read as zero was lowered
     * after the arrays were written, so they are up to date.
     */
    void settle() {
        if (unapplied.get() > 0) {
            apply();
        }
    }

    /** The subscriptions of one table, as of the last {@link #settle}. */
    Subscription[] of(String table) {
        return byTable.getOrDefault(table, NONE);
    }

    /** The subscriptions to every table, as of the last {@link #settle}. */
    Subscription[] everyTable() {
        return everyTable;
    }

    private void change(Change change) {
        pending.add(change);
        if (unapplied.incrementAndGet() >= BATCH) {
            apply();
        }
    }

    private void apply() {
        applying.lock();
        try {
            Map<String, Set<Subscription>> tables = new HashMap<>();
            Set<Subscription> all = null;
            int applied = 0;
            for (Change c; (c = pending.poll()) != null; applied++) {
                if (c.subscription().everyTable()) {
                    if (all == null) {
                        all = new LinkedHashSet<>(Arrays.asList(everyTable));
                    }
                    edit(all, c);
                } else {
                    for (String table : c.subscription().tables()) {
                        edit(tables.computeIfAbsent(table, t -> new LinkedHashSet<>(Arrays.asList(of(t)))), c);
                    }
                }
            }
            tables.forEach((table, subs) -> {
                if (subs.isEmpty()) {
                    byTable.remove(table);
                } else {
                    byTable.put(table, subs.toArray(NONE));
                }
            });
            if (all != null) {
                everyTable = all.toArray(NONE);
            }
            unapplied.addAndGet(-applied);
        } finally {
            applying.unlock();
        }
    }

    private static void edit(Set<Subscription> subs, Change c) {
        if (c.add()) {
            subs.add(c.subscription());
        } else {
            subs.remove(c.subscription());
        }
    }
}
