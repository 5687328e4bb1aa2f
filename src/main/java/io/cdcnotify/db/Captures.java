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
 * Captured tables: {@code cdc.capture(...)} / {@code cdc.release(...)} (migrations V3, V4), for the REST API and the
 * command line. The triggers themselves live in the database, and so do the checks (the table, its name, the
 * excluded columns against the catalog), so that capturing in SQL is checked the same way; this only refuses
 * what cannot reach the database intact, calls the functions and reads {@code cdc.captures}.
 */
public final class Captures {

    /** {@code schema.table} or {@code table}: the names capture accepts. */
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_]{1,63}(\\.[A-Za-z0-9_]{1,63})?");
    /** PostgreSQL's own limit on a table's columns. */
    private static final int MAX_COLUMNS = 1600;

    /** The current name only while the table exists and still carries its capture trigger. */
    private static final String SELECT = """
            SELECT c.table_name, c.exclude_columns, c.created_at,
                   CASE WHEN cdc.capture_live(c.relation) THEN format('%I.%I', n.nspname, r.relname) END AS current_table
              FROM cdc.captures c
              LEFT JOIN pg_class r ON r.oid = c.relation
              LEFT JOIN pg_namespace n ON n.oid = r.relnamespace""";

    private final DbClient db;

    public Captures(DbClient db) {
        this.db = db;
    }

    /**
     * A captured table.
     *
     * @param table          {@code schema.table} when it was captured: the name its events carry, and what clients
     *                       subscribe to, also after the table is renamed
     * @param currentTable   the table as SQL names it now ({@code public."new name"} after a rename); empty when
     *                       the table was dropped (its capture then captures nothing, and may be removed)
     * @param excludeColumns columns left out of its events
     */
    public record Capture(String table, Optional<String> currentTable, List<String> excludeColumns,
                          Instant createdAt) {
    }

    /** Why a capture was refused: the table does not exist, the request is invalid, or it cannot be captured. */
    public static final class Refused extends RuntimeException {
        private final boolean missing;
        private final boolean invalid;

        Refused(String message, boolean missing, boolean invalid) {
            super(message, null, false, false);
            this.missing = missing;
            this.invalid = invalid;
        }

        /** True when the table does not exist. */
        public boolean missing() {
            return missing;
        }

        /** True when the request itself is wrong (a malformed name, unknown or key columns to exclude). */
        public boolean invalid() {
            return invalid;
        }
    }

    /** Starts capturing a table; returns its capture. */
    public Capture add(String table, List<String> excludeColumns) {
        checkName(table);
        checkColumns(excludeColumns);
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

    /**
     * Stops capturing a table, named as it was captured (or as it is named now); false when it was not captured
     * (or does not exist).
     */
    public boolean remove(String table) {
        checkName(table);
        try {
            return db.execute().get("SELECT cdc.release(?::text) AS released", table)
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
        try (Stream<DbRow> rows = db.execute().query(SELECT + " ORDER BY c.table_name")) {
            return rows.map(Captures::capture).toList();
        }
    }

    private Optional<Capture> find(String name) {
        return db.execute().get(SELECT + " WHERE c.table_name = ?", name).map(Captures::capture);
    }

    private static void checkName(String table) {
        if (table == null || !NAME.matcher(table).matches()) {
            throw new Refused("a table is named schema.table or table, with letters, digits and _", false, true);
        }
    }

    /** The catalog check is cdc.capture's; names PostgreSQL cannot even receive are refused here. */
    private static void checkColumns(List<String> columns) {
        if (columns.size() > MAX_COLUMNS) {
            throw new Refused("exclude_columns: a table has at most " + MAX_COLUMNS + " columns", false, true);
        }
        for (String c : columns) {
            if (c == null || c.isEmpty() || c.indexOf('\0') >= 0) {
                throw new Refused("exclude_columns: column names are not empty and contain no NUL", false, true);
            }
        }
    }

    private static Refused refusal(RuntimeException e) {
        if (e instanceof Refused r) {
            return r;
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SQLException sql && sql.getSQLState() != null) {
                return switch (sql.getSQLState()) {
                    case "42P01", "3F000" -> new Refused("no such table", true, false);
                    // unknown columns to exclude, or key columns
                    case "42703", "22023" -> new Refused(firstLine(sql.getMessage()), false, true);
                    // not a table, a name the outbox refuses, a captured partition or parent, a name taken
                    case "42809", "42602", "55006", "42710" -> new Refused(firstLine(sql.getMessage()), false, false);
                    case "42501" -> new Refused("the service's database user may not add triggers to this table",
                                                false, false);
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
                           Optional.ofNullable(r.column("current_table").get(String.class)),
                           Rows.textArray(r.column("exclude_columns").get()),
                           Rows.instant(r.column("created_at").get()));
    }
}
