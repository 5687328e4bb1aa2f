package io.cdcnotify.subscription;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This instance's writes of durable-subscription state, made by one thread at a time in batches: creations and
 * attachments asked for while a transaction commits go together into the next one (group commit: under a
 * storm the batch grows with the load, idle it is a single request with no added wait), and the periodic sync
 * runs between batches. A requester waits for its own batch's commit, so a client hears {@code subscribed}
 * only once its subscription and attachment exist in the database.
 *
 * <p>It also knows which attachment rows of this instance are in the database, so a sync writes only what
 * changed: a row when the first client of this instance attaches (by the batch that attached it), its removal
 * when the last one has left (by the next sync). The heartbeat is one row for the whole instance.
 */
final class Bookkeeping {

    private static final Logger LOG = LoggerFactory.getLogger(Bookkeeping.class);

    /** Requests in one transaction at most. */
    private static final int MAX_BATCH = 1000;
    /**
     * How long a requester waits for its batch: long enough for a storm on an overloaded machine (a batch waits
     * for a pool connection, up to 5 s, and behind a sync), short of the sync job's 30 s stuck limit.
     */
    private static final Duration WAIT = Duration.ofSeconds(20);
    /**
     * A sync's view of who is attached here is taken before it runs; a client whose attachment a batch wrote
     * shortly before may not be in it yet (it attaches in the hub after the commit), so its row stays until a
     * later sync sees it attached or gone.
     */
    private static final long ATTACH_GRACE_NANOS = Duration.ofSeconds(2).toNanos();

    /** Every this many syncs, lapsed attachments are removed even when no instance is known to have died. */
    private static final int SWEEP_EVERY = 10;

    private final SubscriptionStore store;
    private final Supplier<Optional<String>> head;
    private final int maxPerKey;
    private final ConcurrentLinkedQueue<Request> queue = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean draining = new AtomicBoolean();

    // owned by the draining thread (one at a time; the flag hands them over)
    /** Subscriptions with an attachment row of this instance in the database. */
    private final Set<String> persisted = new HashSet<>();
    /** When a batch last wrote each attachment row (System.nanoTime). */
    private final Map<String, Long> attachedAt = new HashMap<>();
    private boolean registered;
    private long syncs;

    /**
     * @param head      where a new subscription starts, read once per batch that creates
     * @param maxPerKey durable subscriptions one key may hold
     */
    Bookkeeping(SubscriptionStore store, Supplier<Optional<String>> head, int maxPerKey) {
        this.store = store;
        this.head = head;
        this.maxPerKey = maxPerKey;
    }

    private sealed interface Request {
        CompletableFuture<?> done();
    }

    private record Create(SubscriptionStore.New subscription, CompletableFuture<Boolean> done) implements Request {
    }

    private record Attach(String id, CompletableFuture<Boolean> done) implements Request {
    }

    /**
     * @param snapshotNanos when {@code attachedHere} was read
     */
    private record Sync(Set<String> attachedHere, long snapshotNanos, Map<String, String> cursors, Set<String> known,
                        Duration ttl, CompletableFuture<SubscriptionStore.SyncResult> done) implements Request {
    }

    /** Creates a subscription; false when its key already holds as many as it may. */
    boolean create(SubscriptionStore.New subscription) {
        return await(submit(new Create(subscription, new CompletableFuture<>())));
    }

    /** Writes that a client of this instance attached; false when the subscription no longer exists. */
    boolean attach(String id) {
        return await(submit(new Attach(id, new CompletableFuture<>())));
    }

    /**
     * The periodic exchange with the database.
     *
     * @param attachedHere  durable subscriptions with clients attached here, read from the hub just now
     * @param snapshotNanos when that was read
     */
    SubscriptionStore.SyncResult sync(Set<String> attachedHere, long snapshotNanos, Map<String, String> cursors,
                                      Set<String> known, Duration ttl) {
        return await(submit(new Sync(attachedHere, snapshotNanos, cursors, known, ttl, new CompletableFuture<>())));
    }

    private <T> CompletableFuture<T> submit(Request request) {
        queue.add(request);
        if (draining.compareAndSet(false, true)) {
            Thread.ofVirtual().name("subscription-writer").start(this::drain);
        }
        @SuppressWarnings("unchecked")
        CompletableFuture<T> done = (CompletableFuture<T>) request.done();
        return done;
    }

    private static <T> T await(CompletableFuture<T> done) {
        try {
            return done.get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("the subscription bookkeeping did not commit within " + WAIT.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the subscription bookkeeping");
        }
    }

    private void drain() {
        while (true) {
            List<Request> batch = new ArrayList<>();
            Request r;
            while (batch.size() < MAX_BATCH && (r = queue.poll()) != null) {
                batch.add(r);
            }
            if (batch.isEmpty()) {
                draining.set(false);
                // a request added after the poll and before the flag was cleared found the flag set: take it over
                if (queue.isEmpty() || !draining.compareAndSet(false, true)) {
                    return;
                }
                continue;
            }
            try {
                run(batch);
            } catch (RuntimeException | Error e) {
                batch.forEach(b -> b.done().completeExceptionally(e));
                if (e instanceof Error error) {
                    draining.set(false);
                    throw error;
                }
            }
        }
    }

    private void run(List<Request> batch) {
        List<Create> creates = new ArrayList<>();
        List<Attach> attaches = new ArrayList<>();
        List<Sync> syncs = new ArrayList<>();
        for (Request r : batch) {
            switch (r) {
                case Create c -> creates.add(c);
                case Attach a -> attaches.add(a);
                case Sync s -> syncs.add(s);
            }
        }
        if (!creates.isEmpty() || !attaches.isEmpty()) {
            try {
                write(creates, attaches);
            } catch (RuntimeException e) {
                if (creates.size() + attaches.size() == 1) {
                    creates.forEach(c -> c.done().completeExceptionally(e));
                    attaches.forEach(a -> a.done().completeExceptionally(e));
                } else {
                    // one request must not fail the others: find it by writing each alone
                    LOG.warn("a batch of {} subscription writes failed ({}); writing them one by one",
                             creates.size() + attaches.size(), e.toString());
                    creates.forEach(c -> alone(List.of(c), List.of()));
                    attaches.forEach(a -> alone(List.of(), List.of(a)));
                }
            }
        }
        for (Sync s : syncs) {
            try {
                s.done().complete(sync(s));
            } catch (RuntimeException e) {
                s.done().completeExceptionally(e);
            }
        }
    }

    private void alone(List<Create> creates, List<Attach> attaches) {
        try {
            write(creates, attaches);
        } catch (RuntimeException e) {
            creates.forEach(c -> c.done().completeExceptionally(e));
            attaches.forEach(a -> a.done().completeExceptionally(e));
        }
    }

    private void write(List<Create> creates, List<Attach> attaches) {
        Optional<String> start = creates.isEmpty() ? Optional.empty() : head.get();
        SubscriptionStore.Written written = store.write(creates.stream().map(Create::subscription).toList(),
                                                        attaches.stream().map(Attach::id).distinct().toList(),
                                                        start, maxPerKey);
        registeredNow(written.firstRegistration());
        long now = System.nanoTime();
        for (Create c : creates) {
            boolean created = written.created().contains(c.subscription().id());
            if (created && c.subscription().attach()) {
                persisted.add(c.subscription().id());
                attachedAt.put(c.subscription().id(), now);
            }
            c.done().complete(created);
        }
        for (Attach a : attaches) {
            boolean exists = written.attached().contains(a.id());
            if (exists) {
                persisted.add(a.id());
                attachedAt.put(a.id(), now);
            }
            a.done().complete(exists);
        }
    }

    private SubscriptionStore.SyncResult sync(Sync s) {
        Set<String> keep = new HashSet<>(s.attachedHere());
        attachedAt.forEach((id, at) -> {
            if (at - s.snapshotNanos() >= -ATTACH_GRACE_NANOS) {
                keep.add(id);
            }
        });
        // a subscription this instance no longer holds was deleted (its rows went with it)
        persisted.removeIf(id -> !s.known().contains(id) && !keep.contains(id));
        // this instance's rows are not what it wrote (it was taken for dead, its subscriptions were deleted,
        // or a release before schema 5 removed them): rewrite them all; otherwise only what changed
        boolean full = registered && store.attachmentRows() != persisted.size();
        Set<String> attach = new HashSet<>(s.attachedHere());
        Set<String> detach = new HashSet<>();
        if (!full) {
            attach.removeAll(persisted);
            for (String id : persisted) {
                if (!keep.contains(id)) {
                    detach.add(id);
                }
            }
        }
        boolean sweep = ++syncs % SWEEP_EVERY == 0;
        SubscriptionStore.SyncResult result = store.sync(
                new SubscriptionStore.SyncRequest(attach, detach, keep, full, sweep, s.cursors(), s.known(), s.ttl()));
        registeredNow(result.reRegistered());
        if (full || result.reRegistered()) {
            persisted.clear();
            persisted.addAll(keep);
        } else {
            persisted.addAll(attach);
            persisted.removeAll(detach);
        }
        // a subscription deleted in the database took its attachment rows with it
        persisted.removeAll(result.gone());
        long old = System.nanoTime() - 2 * ATTACH_GRACE_NANOS;
        attachedAt.values().removeIf(at -> at < old);
        return result;
    }

    /**
     * Notes whether a write found this instance's row missing and made it. Missing after it had been registered,
     * it was taken for dead and removed, and its attachment rows with it.
     */
    private void registeredNow(boolean inserted) {
        if (inserted && registered) {
            LOG.warn("this instance was taken for dead (no heartbeat for 30 s); its attachments are written again");
            persisted.clear();
        }
        registered = true;
    }
}
