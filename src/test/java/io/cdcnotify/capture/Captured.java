package io.cdcnotify.capture;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.TestDatabase;

/** What the capture trigger wrote, read straight from the outbox, for the capture tests. */
final class Captured {

    static final ObjectMapper JSON = new ObjectMapper();

    /** An outbox row. */
    record Event(long id, String table, String operation, JsonNode payload) {
    }

    private Captured() {
    }

    /** Migrates the test database as the service does at start, and returns it open. */
    static Database open(TestDatabase db) {
        return Database.open(new DbConfig(db.url(), db.user(), db.password(), 2));
    }

    /** Outbox rows with an id above {@code after}, in id order. */
    static List<Event> after(Connection c, long after) throws SQLException {
        List<Event> events = new ArrayList<>();
        try (PreparedStatement st = c.prepareStatement(
                "SELECT id, table_name, operation, payload::text FROM cdc.outbox WHERE id > ? ORDER BY id")) {
            st.setLong(1, after);
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    events.add(new Event(rs.getLong(1), rs.getString(2), rs.getString(3), json(rs.getString(4))));
                }
            }
        }
        return events;
    }

    /** The outbox's highest id so far (0 when empty). */
    static long last(Connection c) throws SQLException {
        return single(c, "SELECT coalesce(max(id), 0) FROM cdc.outbox");
    }

    static long single(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** {@code to_jsonb} of the row, as PostgreSQL renders it: what a captured image must equal. */
    static JsonNode toJsonb(Connection c, String table, String where) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT to_jsonb(t)::text FROM " + table + " t WHERE " + where)) {
            if (!rs.next()) {
                throw new AssertionError("no row of " + table + " where " + where);
            }
            return json(rs.getString(1));
        }
    }

    static JsonNode json(String text) {
        try {
            return text == null ? null : JSON.readTree(text);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
