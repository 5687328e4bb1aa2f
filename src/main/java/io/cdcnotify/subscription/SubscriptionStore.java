package io.cdcnotify.subscription;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import io.cdcnotify.db.Rows;
import io.helidon.dbclient.DbClient;
import io.helidon.dbclient.DbRow;

/**
 * Durable subscriptions in PostgreSQL, shared by every instance: their definitions and last delivered cursors,
 * and which instances have clients attached (each instance refreshes its own rows about once a second; a row
 * older than {@link #ATTACHMENT_LAPSE} no longer counts).
 */
final class SubscriptionStore {

    static final Duration ATTACHMENT_LAPSE = Duration.ofSeconds(30);

    private static final String LIVE = "heartbeat_at > now() - interval '30 seconds'";

    private final DbClient db;
    private final String instanceId;

    SubscriptionStore(DbClient db, String instanceId) {
        this.db = db;
        this.instanceId = instanceId;
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

    void insert(String id, String keyId, List<String> tables, Instant createdAt, Optional<String> cursor,
                Optional<String> filter) {
        db.execute().insert("INSERT INTO cdc.subscriptions (id, key_id, tables, created_at, last_cursor, detached_at, filter) "
                                    + "VALUES (?, ?, ?, ?, ?, ?, ?::jsonb)",
                            id, keyId, tables.toArray(String[]::new), Rows.timestamp(createdAt), cursor.orElse(null),
                            Rows.timestamp(createdAt), filter.orElse(null));
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

    long count(String keyId) {
        return db.execute().get("SELECT count(*) AS n FROM cdc.subscriptions WHERE key_id = ?", keyId)
                .map(r -> r.column("n").get(Long.class)).orElse(0L);
    }

    boolean delete(String id) {
        return db.execute().delete("DELETE FROM cdc.subscriptions WHERE id = ?", id) > 0;
    }

    void deleteByKey(String keyId) {
        db.execute().delete("DELETE FROM cdc.subscriptions WHERE key_id = ?", keyId);
    }

    /** A client of this instance attached: the subscription is attached from now on, everywhere. */
    void attached(String id) {
        db.execute().dml("INSERT INTO cdc.subscription_attachments (subscription_id, instance_id, clients) "
                                 + "SELECT id, ?, 1 FROM cdc.subscriptions WHERE id = ? "
                                 + "ON CONFLICT (subscription_id, instance_id) DO UPDATE SET heartbeat_at = now()",
                         instanceId, id);
        db.execute().dml("UPDATE cdc.subscriptions SET detached_at = NULL WHERE id = ?", id);
    }

    /**
     * The periodic exchange with the database.
     *
     * @param attached     this instance's attached client counts, by subscription id (durable ones only)
     * @param cursors      last delivered cursors that changed since the previous sync
     * @param known        ids of the durable subscriptions this instance holds in memory
     * @param ttl          how long a detached subscription lives
     * @return of {@code known}: which still exist, and which have clients on other instances
     */
    SyncResult sync(Map<String, Integer> attached, Map<String, String> cursors, Set<String> known, Duration ttl) {
        List<String> ids = new ArrayList<>(attached.keySet());
        List<Integer> counts = ids.stream().map(attached::get).toList();
        db.execute().dml("""
                INSERT INTO cdc.subscription_attachments (subscription_id, instance_id, clients)
                SELECT a.id, ?, a.n FROM unnest(?::text[], ?::int[]) AS a(id, n)
                  JOIN cdc.subscriptions s ON s.id = a.id
                ON CONFLICT (subscription_id, instance_id) DO UPDATE SET clients = excluded.clients, heartbeat_at = now()""",
                         instanceId, ids.toArray(String[]::new), counts.toArray(Integer[]::new));
        db.execute().dml("DELETE FROM cdc.subscription_attachments WHERE instance_id = ? AND NOT (subscription_id = ANY(?))",
                         instanceId, ids.toArray(String[]::new));
        // a subscription attached here is not detached, whatever a racing sync elsewhere (or here, between an
        // attach and this sync's view of it) may have written: left set, it would expire under its clients
        db.execute().dml("UPDATE cdc.subscriptions SET detached_at = NULL WHERE id = ANY(?) AND detached_at IS NOT NULL",
                         (Object) ids.toArray(String[]::new));
        if (!cursors.isEmpty()) {
            List<String> cursorIds = new ArrayList<>(cursors.keySet());
            db.execute().dml("""
                    UPDATE cdc.subscriptions s SET last_cursor = c.cursor
                      FROM unnest(?::text[], ?::text[]) AS c(id, cursor) WHERE s.id = c.id""",
                             cursorIds.toArray(String[]::new),
                             cursorIds.stream().map(cursors::get).toArray(String[]::new));
        }
        db.execute().dml("DELETE FROM cdc.subscription_attachments WHERE NOT (" + LIVE + ")");
        db.execute().dml("""
                UPDATE cdc.subscriptions s SET detached_at = now()
                 WHERE s.detached_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM cdc.subscription_attachments a WHERE a.subscription_id = s.id)""");
        db.execute().dml("DELETE FROM cdc.subscriptions WHERE detached_at < now() - make_interval(secs => ?)",
                         (double) ttl.toSeconds());
        Map<String, Boolean> elsewhere = new HashMap<>();
        try (Stream<DbRow> rows = db.execute().query("""
                SELECT s.id, EXISTS (SELECT 1 FROM cdc.subscription_attachments a
                                      WHERE a.subscription_id = s.id AND a.instance_id <> ? AND a.%s) AS elsewhere
                  FROM cdc.subscriptions s WHERE s.id = ANY(?)""".formatted(LIVE),
                                                     instanceId, known.toArray(String[]::new))) {
            rows.forEach(r -> elsewhere.put(r.column("id").get(String.class), r.column("elsewhere").get(Boolean.class)));
        }
        return new SyncResult(elsewhere.keySet(),
                              elsewhere.entrySet().stream().filter(Map.Entry::getValue).map(Map.Entry::getKey)
                                      .collect(Collectors.toSet()));
    }

    /**
     * @param existing          subscriptions that still exist in the database
     * @param attachedElsewhere subscriptions with clients on other instances
     */
    record SyncResult(Set<String> existing, Set<String> attachedElsewhere) {
    }

    private static final String SELECT = """
            SELECT s.id, s.key_id, s.tables, s.created_at, s.last_cursor, s.detached_at, s.filter::text AS filter,
                   EXISTS (SELECT 1 FROM cdc.subscription_attachments a
                            WHERE a.subscription_id = s.id AND a.instance_id <> ?
                              AND a.heartbeat_at > now() - interval '30 seconds') AS elsewhere
              FROM cdc.subscriptions s""";

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
