package io.cdcnotify.db;

import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.helidon.dbclient.DbClient;
import io.helidon.dbclient.DbRow;

/**
 * Captured tables: {@code cdc.capture(...)} / {@code cdc.release(...)} (migration V3), for the REST API and the
 * command line. The triggers themselves live in the database; this only calls the functions and reads
 * {@code cdc.captures}.
 */
public final class Captures {

    /** {@code schema.table} or {@code table}: the names capture accepts. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_]{1,63}(\\.[A-Za-z0-9_]{1,63})?");

    private final DbClient db;

    public Captures(DbClient db) {
        this.db = db;
    }

    /**
     * A captured table.
     *
     * @param table          {@code schema.table}, as clients subscribe to it
     * @param excludeColumns columns left out of its events
     */
    public record Capture(String table, List<String> excludeColumns, Instant createdAt) {
    }

    /** Why a capture was refused: the table does not exist, or cannot be captured. */
    public static final class Refused extends RuntimeException {
        private final boolean missing;

        Refused(String message, boolean missing) {
            super(message, null, false, false);
            this.missing = missing;
        }

        /** True when the table does not exist. */
        public boolean missing() {
            return missing;
        }
    }

    /** Starts capturing a table; returns its capture. */
    public Capture add(String table, List<String> excludeColumns) {
        checkName(table);
        try {
            String name = db.execute()
                    .get("SELECT cdc.capture(?::regclass, ?::text[]) AS name", table, excludeColumns.toArray(String[]::new))
                    .map(r -> r.column("name").get(String.class))
                    .orElseThrow();
            return find(name).orElseThrow();
        } catch (RuntimeException e) {
            throw refusal(e);
        }
    }

    /** Stops capturing a table; false when it was not captured (or does not exist). */
    public boolean remove(String table) {
        checkName(table);
        try {
            return db.execute().get("SELECT cdc.release(?::regclass) AS released", table)
                    .map(r -> r.column("released").get(Boolean.class)).orElse(false);
        } catch (RuntimeException e) {
            Refused refused = refusal(e);
            if (refused.missing()) {
                return false;
            }
            throw refused;
        }
    }

    public List<Capture> list() {
        try (Stream<DbRow> rows = db.execute().query(
                "SELECT table_name, exclude_columns, created_at FROM cdc.captures ORDER BY table_name")) {
            return rows.map(Captures::capture).toList();
        }
    }

    private Optional<Capture> find(String name) {
        return db.execute()
                .get("SELECT table_name, exclude_columns, created_at FROM cdc.captures WHERE table_name = ?", name)
                .map(Captures::capture);
    }

    private static void checkName(String table) {
        if (table == null || !NAME.matcher(table).matches()) {
            throw new Refused("a table is named schema.table or table, with letters, digits and _", false);
        }
    }

    private static Refused refusal(RuntimeException e) {
        if (e instanceof Refused r) {
            return r;
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql && sql.getSQLState() != null) {
                return switch (sql.getSQLState()) {
                    case "42P01", "3F000" -> new Refused("no such table", true);
                    case "42809", "42602" -> new Refused(firstLine(sql.getMessage()), false);
                    case "42501" -> new Refused("the service's database user may not add triggers to this table", false);
                    default -> throw e;
                };
            }
        }
        throw e;
    }

    private static String firstLine(String message) {
        String m = message == null ? "" : message;
        int nl = m.indexOf('\n');
        m = nl < 0 ? m : m.substring(0, nl);
        return m.startsWith("ERROR: ") ? m.substring(7) : m;
    }

    private static Capture capture(DbRow r) {
        return new Capture(r.column("table_name").get(String.class),
                           Rows.textArray(r.column("exclude_columns").get()),
                           Rows.instant(r.column("created_at").get()));
    }
}
