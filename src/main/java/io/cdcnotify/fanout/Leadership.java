package io.cdcnotify.fanout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.Executors;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who reads the outbox: the instance holding a session-level PostgreSQL advisory lock on a dedicated
 * connection. Followers try for it about once a second; the leader checks about four times a second that its
 * session still holds it, and a failed check, an error or a lost connection ends leadership at once (the
 * connection is aborted, so the lock is free for the others). Only {@link Relay}'s thread calls this.
 */
final class Leadership {

    /** {@code application_name} of the lock's connection in {@code pg_stat_activity}. */
    static final String APPLICATION_NAME = "cdc-notify-leader";

    private static final Logger LOG = LoggerFactory.getLogger(Leadership.class);
    /** Runs pgjdbc's network-timeout aborts. */
    private static final java.util.concurrent.Executor TIMEOUTS = Executors.newVirtualThreadPerTaskExecutor();

    private final Relay.LockConnection connector;
    private final long key;
    private Connection connection;

    Leadership(Relay.LockConnection connector, long key) {
        this.connector = connector;
        this.key = key;
    }

    boolean held() {
        return connection != null;
    }

    /** Tries once to become leader; true when this instance now holds the lock. */
    boolean tryAcquire() {
        if (connection != null) {
            return true;
        }
        Connection c = null;
        try {
            c = connector.open();
            c.setNetworkTimeout(TIMEOUTS, 3_000);
            try (PreparedStatement st = c.prepareStatement("SELECT pg_try_advisory_lock(?)")) {
                st.setLong(1, key);
                try (ResultSet rs = st.executeQuery()) {
                    if (rs.next() && rs.getBoolean(1)) {
                        connection = c;
                        return true;
                    }
                }
            }
        } catch (SQLException e) {
            LOG.debug("could not try for leadership: {}", e.getMessage());
        }
        quietlyAbort(c);
        return false;
    }

    /** True while the lock's session is alive and still holds the lock; on any doubt, leadership ends. */
    boolean stillHeld() {
        if (connection == null) {
            return false;
        }
        try (PreparedStatement st = connection.prepareStatement(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
                        + " AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = ?")) {
            st.setLong(1, key);
            try (ResultSet rs = st.executeQuery()) {
                if (rs.next() && rs.getLong(1) > 0) {
                    return true;
                }
            }
            LOG.warn("the leadership lock is no longer held");
        } catch (SQLException e) {
            LOG.warn("lost the leadership connection: {}", e.getMessage());
        }
        release();
        return false;
    }

    /** Gives up leadership: the connection is aborted, not closed politely, so this never waits. */
    void release() {
        Connection c = connection;
        connection = null;
        quietlyAbort(c);
    }

    private static void quietlyAbort(Connection c) {
        if (c == null) {
            return;
        }
        try {
            c.abort(Runnable::run);
        } catch (SQLException | RuntimeException e) {
            LOG.debug("abort failed: {}", e.getMessage());
        }
    }
}
