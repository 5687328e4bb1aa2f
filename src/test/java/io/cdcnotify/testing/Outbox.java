package io.cdcnotify.testing;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/** Writes outbox rows the way applications do, over plain JDBC to a {@link TestDatabase}. */
public final class Outbox {

    private static final String INSERT =
            "INSERT INTO cdc.outbox (table_name, operation, payload) VALUES (?, ?, ?::jsonb) RETURNING id";

    private Outbox() {
    }

    /** Inserts one row in its own transaction; returns its id. */
    public static long insert(TestDatabase db, String table, String operation, String payload) throws SQLException {
        try (Connection c = db.connect()) {
            return insert(c, table, operation, payload);
        }
    }

    /** Inserts one row on a connection (in whatever transaction it is in); returns its id. */
    public static long insert(Connection c, String table, String operation, String payload) throws SQLException {
        try (PreparedStatement st = c.prepareStatement(INSERT)) {
            st.setString(1, table);
            st.setString(2, operation);
            st.setString(3, payload);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        }
    }

    /** A connection in a transaction, for tests that commit later or roll back. */
    public static Connection begin(TestDatabase db) throws SQLException {
        Connection c = db.connect();
        c.setAutoCommit(false);
        return c;
    }
}
