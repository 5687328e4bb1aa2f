package io.cdcnotify.subscription;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.db.Rows;
import io.cdcnotify.wire.Json;
import io.cdcnotify.wire.Timestamps;
import io.helidon.dbclient.DbClient;
import io.helidon.dbclient.DbExecute;
import io.helidon.dbclient.DbRow;
import io.helidon.dbclient.DbTransaction;

/**
 * Durable subscriptions in PostgreSQL, shared by every instance: their definitions and last delivered cursors,
 * which instances are alive ({@code cdc.instances}, one heartbeat row per instance, refreshed about once a
 * second), and which instances have clients attached to which subscription ({@code cdc.subscription_attachments},
 * written when the first client of an instance attaches and deleted when its last one has left). An attachment
 * counts while its instance's heartbeat is younger than {@link #LAPSE}.
 *
 * <p>Two advisory locks keep the bookkeeping exact across instances. Creating subscriptions takes one lock per
 * key, so that counting a key's subscriptions and inserting new ones is atomic (parallel requests cannot
 * overshoot the cap). Marking subscriptions detached takes one global lock exclusively, and writing attachments
 * takes it shared: a detach that sees no attachment left is never racing an attach it could not see, and of two
 * instances whose clients leave at once, one sees that the other has gone.
 */
final class SubscriptionStore {

    /** How long the attachments of an instance that stopped its heartbeat still count: the contract's 30 s. */
    private static final String LAPSE = "interval '30 seconds'";

    /**
     * Attachment {@code a} counts: its instance is alive, or the row itself is younger than the lapse (a row
     * written by a release before schema 5, which refreshes each row, or one just written).
     */
    private static final String LIVE = "(a.heartbeat_at > now() - " + LAPSE + " OR EXISTS (SELECT 1 FROM cdc.instances i "
                                       + "WHERE i.id = a.instance_id AND i.heartbeat_at > now() - " + LAPSE + "))";

    /** Subscription {@code s} has a client attached on an instance that is alive. */
    private static final String ATTACHED = "EXISTS (SELECT 1 FROM cdc.subscription_attachments a "
                                           + "WHERE a.subscription_id = s.id AND " + LIVE + ")";

    private static final String DETACH_LOCK = "hashtext('cdc.subscription_attachments'), 0";

    private static final ObjectMapper JSON = Json.MAPPER;

    private final DbClient db;
    private final String instanceId;

    SubscriptionStore(DbClient db, String instanceId) {
        this.db = db;
        this.instanceId = instanceId;
    }

    String instanceId() {
        return instanceId;
    }

    /**
     * A stored subscription.
     *
     * @param lastCursor cursor of the last event delivered, or the position at creation; empty when the outbox
     *                   was empty then (everything in it is after)
     * @param detachedAt when its last client anywhere left, empty while one is attached
     * @param attachedElsewhere whether another instance has a client attached
     */
    record Stored(String id, String keyId, List<String> tables, Instant createdAt, Optional<String> lastCursor,
                  Optional<Instant> detachedAt, boolean attachedElsewhere, Optional<String> filter) {
    }

    /**
     * A subscription to create.
     *
     * @param createdAt already at the database's precision (microseconds), so what the API answers now is
     *                  what it reads back later
     * @param attach    a client of this instance attaches to it at once
     */
    record New(String id, String keyId, List<String> tables, Instant createdAt, Optional<String> filter,
               boolean attach) {
    }

    /**
     * What a batch wrote.
     *
     * @param created  the new subscriptions admitted (the others would have passed their key's cap)
     * @param attached the subscriptions attached here that still exist
     * @param firstRegistration whether the batch registered this instance (it was not in {@code cdc.instances})
     */
    record Written(Set<String> created, Set<String> attached, boolean firstRegistration) {
    }

    /**
     * Creates subscriptions and writes attachments of this instance, in one transaction.
     *
     * @param head      where a new subscription starts (the outbox head as a cursor); empty when the outbox is empty
     * @param maxPerKey durable subscriptions one key may hold
     */
    Written write(List<New> creates, Collection<String> attaches, Optional<String> head, int maxPerKey) {
        DbTransaction tx = db.transaction();
        try {
            boolean registered = register(tx, false);
            lock(tx, "pg_advisory_xact_lock_shared");
            Set<String> created = creates.isEmpty() ? Set.of() : create(tx, creates, head, maxPerKey);
            Set<String> attached = attaches.isEmpty() ? Set.of() : attach(tx, attaches);
            tx.commit();
            return new Written(created, attached, registered);
        } catch (RuntimeException e) {
            rollback(tx, e);
            throw e;
        }
    }

    private Set<String> create(DbExecute tx, List<New> creates, Optional<String> head, int maxPerKey) {
        // one lock per key, taken in a fixed order (sorted here; unnest keeps the array's order) so that batches
        // of several instances that share keys cannot deadlock
        String[] keys = new TreeSet<>(creates.stream().map(New::keyId).toList()).toArray(String[]::new);
        tx.get("SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended('cdc.subscriptions:' || k, 0)) "
               + "FROM unnest(?::text[]) AS k) AS locked", (Object) keys);
        ArrayNode rows = JSON.createArrayNode();
        for (int i = 0; i < creates.size(); i++) {
            New n = creates.get(i);
            ObjectNode row = rows.addObject();
            row.put("ord", i);
            row.put("id", n.id());
            row.put("key_id", n.keyId());
            n.tables().forEach(row.putArray("tables")::add);
            row.put("created_at", Timestamps.format(n.createdAt()));
            row.put("attach", n.attach());
            if (n.filter().isPresent()) {
                try {
                    row.set("filter", JSON.readTree(n.filter().get()));
                } catch (java.io.IOException e) {
                    throw new IllegalArgumentException("a filter that is not JSON", e);
                }
            }
        }
        // the count (cdc.subscription_counts, kept by triggers: schema V6) is read after the locks, in a new
        // snapshot: it sees every subscription committed by the batches that held a key's lock before this one
        try (Stream<DbRow> ids = tx.query("""
                WITH r AS (SELECT * FROM jsonb_to_recordset(?::jsonb)
                             AS r(ord int, id text, key_id text, tables text[], created_at timestamptz, filter jsonb,
                                  attach boolean)),
                     have AS (SELECT k.key_id, coalesce((SELECT c.n FROM cdc.subscription_counts c
                                                          WHERE c.key_id = k.key_id), 0) AS n
                                FROM (SELECT DISTINCT key_id FROM r) k),
                     admitted AS (SELECT r.*, row_number() OVER (PARTITION BY r.key_id ORDER BY r.ord) AS rn, have.n
                                    FROM r JOIN have USING (key_id)),
                     ins AS (INSERT INTO cdc.subscriptions (id, key_id, tables, created_at, last_cursor, detached_at, filter)
                             SELECT id, key_id, tables, created_at, ?, CASE WHEN attach THEN NULL ELSE created_at END, filter
                               FROM admitted WHERE n + rn <= ?
                             ON CONFLICT (id) DO NOTHING
                             RETURNING id),
                     att AS (INSERT INTO cdc.subscription_attachments (subscription_id, instance_id)
                             SELECT ins.id, ? FROM ins JOIN r USING (id) WHERE r.attach)
                SELECT id FROM ins""", rows.toString(), head.orElse(null), maxPerKey, instanceId)) {
            return ids.map(r -> r.column("id").get(String.class)).collect(Collectors.toSet());
        }
    }

    private Set<String> attach(DbExecute tx, Collection<String> attaches) {
        String[] ids = attaches.toArray(String[]::new);
        try (Stream<DbRow> rows = tx.query("""
                WITH s AS (SELECT id FROM cdc.subscriptions WHERE id = ANY(?::text[])),
                     a AS (INSERT INTO cdc.subscription_attachments (subscription_id, instance_id)
                           SELECT id, ? FROM s ON CONFLICT DO NOTHING),
                     u AS (UPDATE cdc.subscriptions SET detached_at = NULL
                            WHERE id IN (SELECT id FROM s) AND detached_at IS NOT NULL)
                SELECT id FROM s""", ids, instanceId)) {
            return rows.map(r -> r.column("id").get(String.class)).collect(Collectors.toSet());
        }
    }

    Optional<Stored> find(String id) {
        return db.execute().get(SELECT + " WHERE s.id = ?", instanceId, id).map(SubscriptionStore::stored);
    }

    List<Stored> list(String keyId) {
        try (Stream<DbRow> rows = db.execute().query(SELECT + " WHERE s.key_id = ? ORDER BY s.created_at, s.id",
                                                     instanceId, keyId)) {
            return rows.map(SubscriptionStore::stored).toList();
        }
    }

    boolean delete(String id) {
        return deleteWhere("id", id) > 0;
    }

    void deleteByKey(String keyId) {
        deleteWhere("key_id", keyId);
    }

    /**
     * Deletes subscriptions (their attachment rows go with them, by the foreign key) under the attachment lock:
     * a sync locks attachment rows before subscription rows, a cascading delete the other way round, and without
     * the lock the two deadlocked (PostgreSQL then fails one of them).
     */
    private long deleteWhere(String column, String value) {
        DbTransaction tx = db.transaction();
        try {
            lock(tx, "pg_advisory_xact_lock");
            long n = tx.delete("DELETE FROM cdc.subscriptions WHERE " + column + " = ?", value);
            tx.commit();
            return n;
        } catch (RuntimeException e) {
            rollback(tx, e);
            throw e;
        }
    }

    /** This instance's attachment rows in the database: a sync compares them with what it believes it wrote. */
    long attachmentRows() {
        return db.execute().get("SELECT count(*) AS n FROM cdc.subscription_attachments WHERE instance_id = ?", instanceId)
                .map(r -> r.column("n").get(Long.class)).orElse(0L);
    }

    /**
     * What one sync sends.
     *
     * @param attach   subscriptions attached here whose attachment row may be missing
     * @param detach   subscriptions whose last client here left: their rows go, and they are detached if no
     *                 client is attached anywhere else
     * @param keep     with {@code full}: every row of this instance not named here goes
     * @param full     this instance's rows are not what it believes (it was taken for dead, or someone else
     *                 deleted them): rewrite them all, {@code attach} being every subscription attached here
     * @param sweep    also remove the attachments that lapsed (instances that died, rows of old releases)
     * @param cursors  last delivered cursors that changed since the previous sync
     * @param known    ids of the durable subscriptions this instance holds in memory
     * @param ttl      how long a detached subscription lives
     */
    record SyncRequest(Set<String> attach, Set<String> detach, Set<String> keep, boolean full, boolean sweep,
                       Map<String, String> cursors, Set<String> known, Duration ttl) {
    }

    /**
     * @param gone              of the known subscriptions, those no longer in the database (deleted or expired)
     * @param attachedElsewhere of the others, the ones with clients on other instances
     * @param reRegistered      this instance was not registered (it had been taken for dead and removed)
     */
    record SyncResult(Set<String> gone, Set<String> attachedElsewhere, boolean reRegistered) {
    }

    /**
     * The periodic exchange with the database, in one transaction: this instance's heartbeat (one row), the
     * attachment rows that changed, cursors; deletions, expiries, dead instances and attachments elsewhere.
     */
    SyncResult sync(SyncRequest req) {
        DbTransaction tx = db.transaction();
        try {
            boolean reRegistered = register(tx, true);
            boolean deadInstances = tx.get("SELECT EXISTS (SELECT 1 FROM cdc.instances WHERE heartbeat_at <= now() - "
                                           + LAPSE + ") AS dead").map(r -> r.column("dead").get(Boolean.class))
                    .orElse(false);
            boolean sweep = req.sweep() || deadInstances;
            if (req.full() || !req.detach().isEmpty() || sweep) {
                lock(tx, "pg_advisory_xact_lock");
            } else if (!req.attach().isEmpty()) {
                lock(tx, "pg_advisory_xact_lock_shared");
            }
            String[] gone;
            if (req.full()) {
                try (Stream<DbRow> rows = tx.query("DELETE FROM cdc.subscription_attachments WHERE instance_id = ? "
                                                   + "AND NOT (subscription_id = ANY(?::text[])) RETURNING subscription_id",
                                                   instanceId, req.keep().toArray(String[]::new))) {
                    gone = rows.map(r -> r.column("subscription_id").get(String.class)).toArray(String[]::new);
                }
            } else {
                gone = req.detach().toArray(String[]::new);
                if (gone.length > 0) {
                    tx.dml("DELETE FROM cdc.subscription_attachments WHERE instance_id = ? AND subscription_id = ANY(?::text[])",
                           instanceId, gone);
                }
            }
            if (!req.attach().isEmpty()) {
                attach(tx, req.attach());
            }
            if (gone.length > 0) {
                tx.dml("UPDATE cdc.subscriptions s SET detached_at = now() "
                       + "WHERE s.id = ANY(?::text[]) AND s.detached_at IS NULL AND NOT " + ATTACHED, (Object) gone);
            }
            if (sweep) {
                // instances that died without SIGTERM, rows of old releases that stopped refreshing them: what
                // only they held is detached from now on
                tx.dml("UPDATE cdc.subscriptions s SET detached_at = now() WHERE s.detached_at IS NULL "
                       + "AND s.id IN (SELECT a.subscription_id FROM cdc.subscription_attachments a WHERE NOT " + LIVE + ") "
                       + "AND NOT " + ATTACHED);
                tx.dml("DELETE FROM cdc.subscription_attachments a WHERE NOT " + LIVE);
                tx.dml("DELETE FROM cdc.instances WHERE heartbeat_at <= now() - " + LAPSE);
            }
            if (!req.cursors().isEmpty()) {
                List<String> cursorIds = new ArrayList<>(req.cursors().keySet());
                tx.dml("""
                        UPDATE cdc.subscriptions s SET last_cursor = c.cursor
                          FROM unnest(?::text[], ?::text[]) AS c(id, cursor) WHERE s.id = c.id""",
                       cursorIds.toArray(String[]::new), cursorIds.stream().map(req.cursors()::get).toArray(String[]::new));
            }
            // a subscription with a live attachment is not detached, whatever a race (or a hand) left behind: left
            // set, it would expire under its clients
            tx.dml("UPDATE cdc.subscriptions s SET detached_at = NULL WHERE s.detached_at IS NOT NULL AND " + ATTACHED);
            tx.dml("DELETE FROM cdc.subscriptions s WHERE s.detached_at < now() - make_interval(secs => ?) AND NOT "
                   + ATTACHED, (double) req.ttl().toSeconds());
            // only the exceptions come back: a known subscription that is gone, or attached on another instance
            // (every known one, 10,000 rows a second, cost a storm of subscribes more than their own writes)
            Set<String> deleted = new HashSet<>();
            Set<String> elsewhere = new HashSet<>();
            if (!req.known().isEmpty()) {
                try (Stream<DbRow> rows = tx.query("""
                        SELECT k.id, s.id IS NULL AS gone
                          FROM unnest(?::text[]) AS k(id) LEFT JOIN cdc.subscriptions s ON s.id = k.id
                         WHERE s.id IS NULL
                            OR EXISTS (SELECT 1 FROM cdc.subscription_attachments a
                                        WHERE a.subscription_id = s.id AND a.instance_id <> ? AND %s)""".formatted(LIVE),
                                                   req.known().toArray(String[]::new), instanceId)) {
                    rows.forEach(r -> (r.column("gone").get(Boolean.class) ? deleted : elsewhere)
                            .add(r.column("id").get(String.class)));
                }
            }
            tx.commit();
            return new SyncResult(deleted, elsewhere, reRegistered);
        } catch (RuntimeException e) {
            rollback(tx, e);
            throw e;
        }
    }

    /**
     * Registers this instance, and with {@code heartbeat} refreshes its heartbeat. Returns true when the row
     * was missing.
     */
    private boolean register(DbExecute tx, boolean heartbeat) {
        String sql = "INSERT INTO cdc.instances (id) VALUES (?) ON CONFLICT (id) DO "
                     + (heartbeat ? "UPDATE SET heartbeat_at = now()" : "NOTHING")
                     + " RETURNING (xmax = 0) AS inserted";
        return tx.get(sql, instanceId).map(r -> r.column("inserted").get(Boolean.class)).orElse(false);
    }

    /** Takes the detach lock, shared or exclusive, until the transaction ends. */
    private static void lock(DbExecute tx, String function) {
        tx.get("SELECT count(*) AS locked FROM (SELECT " + function + "(" + DETACH_LOCK + ")) AS x");
    }

    private static void rollback(DbTransaction tx, RuntimeException cause) {
        try {
            tx.rollback();
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    private static final String SELECT = """
            SELECT s.id, s.key_id, s.tables, s.created_at, s.last_cursor, s.detached_at, s.filter::text AS filter,
                   EXISTS (SELECT 1 FROM cdc.subscription_attachments a
                            WHERE a.subscription_id = s.id AND a.instance_id <> ? AND %s) AS elsewhere
              FROM cdc.subscriptions s""".formatted(LIVE);

    private static Stored stored(DbRow r) {
        return new Stored(r.column("id").get(String.class),
                          r.column("key_id").get(String.class),
                          Rows.textArray(r.column("tables").get()),
                          Rows.instant(r.column("created_at").get()),
                          r.column("last_cursor").asOptional().map(String.class::cast),
                          r.column("detached_at").asOptional().map(Rows::instant),
                          r.column("elsewhere").get(Boolean.class),
                          r.column("filter").asOptional().map(String.class::cast));
    }
}
