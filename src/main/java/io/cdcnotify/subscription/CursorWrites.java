package io.cdcnotify.subscription;

import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which durable subscriptions' last cursors a sync writes to the database: those that changed since they were
 * last written, at most a fifth of the subscriptions held here per sync (and never fewer than
 * {@link #MIN_PER_SYNC}), the longest unwritten first. So every cursor is written within about five syncs
 * (5 s), and no sync updates thousands of rows at once.
 *
 * <p>Why not all of them every second: with 1,000 subscriptions that all moved, that one 1,000-row update a
 * second took PostgreSQL's CPU in a burst that held back outbox reads and writers alike, and it alone lifted
 * the p99 of delivery from about 10 ms to 15–25 ms (docs/benchmarks.md, session 6). A cursor written later only
 * matters when a subscription is re-attached on another instance without a cursor of the client's own: it then
 * resumes a few seconds further back, and the client sees those events again (deduplicated by id).
 */
final class CursorWrites {

    /** One sync writes at least this many changed cursors: below it, all of them (what tests and most deployments see). */
    static final int MIN_PER_SYNC = 100;
    /** Syncs over which the changed cursors are spread at most. */
    static final int SPREAD = 5;

    private record Written(String cursor, long sync) {
    }

    /** A subscription's cursor now. */
    record Candidate(String id, String cursor) {
    }

    private final Map<String, Written> written = new ConcurrentHashMap<>();
    private long syncs;

    /**
     * The cursors to write in this sync, by subscription id, out of {@code current} (every durable subscription
     * held here that has a cursor); call {@link #done} once they are written.
     */
    Map<String, String> select(List<Candidate> current, int durable) {
        syncs++;
        List<Candidate> changed = current.stream()
                .filter(c -> {
                    Written w = written.get(c.id());
                    return w == null || !w.cursor().equals(c.cursor());
                })
                .toList();
        int limit = Math.max(MIN_PER_SYNC, (durable + SPREAD - 1) / SPREAD);
        if (changed.size() > limit) {
            changed = changed.stream()
                    .sorted(Comparator.comparingLong(c -> {
                        Written w = written.get(c.id());
                        return w == null ? Long.MIN_VALUE : w.sync();
                    }))
                    .limit(limit)
                    .toList();
        }
        Map<String, String> select = new HashMap<>();
        changed.forEach(c -> select.put(c.id(), c.cursor()));
        return select;
    }

    /** These cursors are in the database now. */
    void done(Map<String, String> cursors) {
        long sync = syncs;
        cursors.forEach((id, cursor) -> written.put(id, new Written(cursor, sync)));
    }

    /** The subscription is gone: nothing of it is remembered. */
    void forget(String id) {
        written.remove(id);
    }
}
