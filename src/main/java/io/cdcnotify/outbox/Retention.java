package io.cdcnotify.outbox;

import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import io.cdcnotify.supervise.Worker;
import io.helidon.dbclient.DbClient;
import io.helidon.dbclient.DbRow;
import io.helidon.dbclient.DbTransaction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Outbox retention: deletes rows older than the retention, oldest {@code (xid, id)} first, in small batches,
 * and records how far it got, so that a cursor from before that point gets {@code resume_unavailable} instead
 * of silently missing events.
 *
 * <p>Only a prefix of the {@code (xid, id)} order is ever deleted, and only rows of finished transactions (below
 * the snapshot's xmin), so no row can later appear at or below the recorded bound. Each batch is its own short
 * transaction and takes a transaction-level advisory lock first: instances sharing the database purge one at a
 * time, and writers are never blocked (deleting old rows takes no lock an INSERT waits for).
 */
public final class Retention {

    private static final Logger LOG = LoggerFactory.getLogger(Retention.class);
    /** Arbitrary, fixed: the advisory lock key of the purge. */
    private static final long LOCK_KEY = 0x636463_70757267L;
    /** A purge deletes in batches until nothing more may go: a large backlog legitimately takes minutes. */
    private static final Duration PURGE_LIMIT = Duration.ofMinutes(10);

    private final DbClient db;
    private final Duration retention;
    private final int batch;

    public Retention(DbClient db, Duration retention, int batch) {
        this.db = db;
        this.retention = retention;
        this.batch = batch;
    }

    /** Everything at or below this {@code (xid, id)} has been deleted. */
    public record Bound(long xid, long id) {
    }

    /** The periodic purge ({@code retention}), every {@code interval}; the watchdog supervises it. */
    public Worker job(Duration interval) {
        return Worker.every("retention", interval, PURGE_LIMIT, this::purge);
    }

    /** Deletes what has expired, batch by batch, until nothing more may go; returns how many rows went. */
    public int purge() {
        int total = 0;
        while (true) {
            int deleted = purgeBatch();
            if (deleted <= 0) {
                break;
            }
            total += deleted;
            if (deleted < batch) {
                break;
            }
        }
        if (total > 0) {
            LOG.info("retention deleted {} outbox rows older than {}", total, retention);
        }
        return total;
    }

    /** One batch; -1 when another instance holds the lock. */
    private int purgeBatch() {
        DbTransaction tx = db.transaction();
        try {
            boolean locked = tx.get("SELECT pg_try_advisory_xact_lock(?) AS locked", LOCK_KEY)
                    .map(r -> r.column("locked").get(Boolean.class)).orElse(false);
            if (!locked) {
                tx.rollback();
                return -1;
            }
            Bound bound = tx.get("SELECT purged_xid::text::bigint AS xid, purged_id AS id FROM cdc.outbox_retention FOR UPDATE")
                    .map(Retention::bound).orElseThrow();
            List<DbRow> rows;
            try (Stream<DbRow> s = tx.query("""
                    SELECT o.xid::text::bigint AS xid, o.id,
                           o.created_at < now() - make_interval(secs => ?) AS old,
                           o.xid < pg_snapshot_xmin(pg_current_snapshot()) AS finished
                      FROM cdc.outbox o
                     WHERE (o.xid, o.id) > (?::text::xid8, ?)
                     ORDER BY o.xid, o.id
                     LIMIT ?""", (double) retention.toSeconds(), bound.xid(), bound.id(), batch)) {
                rows = s.toList();
            }
            int prefix = 0;
            while (prefix < rows.size() && rows.get(prefix).column("old").get(Boolean.class)
                    && rows.get(prefix).column("finished").get(Boolean.class)) {
                prefix++;
            }
            if (prefix == 0) {
                tx.commit();
                return 0;
            }
            DbRow last = rows.get(prefix - 1);
            long lastXid = last.column("xid").get(Long.class);
            long lastId = last.column("id").get(Long.class);
            long deleted = tx.dml("""
                    DELETE FROM cdc.outbox
                     WHERE (xid, id) > (?::text::xid8, ?) AND (xid, id) <= (?::text::xid8, ?)""",
                                  bound.xid(), bound.id(), lastXid, lastId);
            tx.dml("UPDATE cdc.outbox_retention SET purged_xid = ?::text::xid8, purged_id = ?", lastXid, lastId);
            tx.commit();
            return (int) deleted;
        } catch (RuntimeException e) {
            tx.rollback();
            throw e;
        }
    }

    /** How far retention has deleted. */
    public Bound bound() {
        return db.execute()
                .get("SELECT purged_xid::text::bigint AS xid, purged_id AS id FROM cdc.outbox_retention")
                .map(Retention::bound)
                .orElse(new Bound(0, 0));
    }

    /** False when events after this cursor may already have been deleted. */
    public boolean resumable(Cursor cursor) {
        Bound b = bound();
        boolean atOrBelow = cursor.xid() < b.xid() || (cursor.xid() == b.xid() && cursor.id() <= b.id());
        boolean pendingGone = cursor.pending().length > 0 && cursor.pending()[0] <= b.xid();
        return !atOrBelow && !pendingGone;
    }

    private static Bound bound(DbRow row) {
        return new Bound(row.column("xid").get(Long.class), row.column("id").get(Long.class));
    }
}
