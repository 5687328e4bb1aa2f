package io.cdcnotify.testing;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** The service's LISTEN connection as the database sees it. */
public final class Listener {

    private Listener() {
    }

    /** The backend pid of the listener connection to this database, or 0 when there is none. */
    public static int pid(TestDatabase db) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                                    + "'cdc-notify-listener' AND datname = current_database()")) {
            return rs.next() ? rs.getInt(1) : 0;
        }
    }

    /** Kills the listener's backend with pg_terminate_backend; returns the pid killed. */
    public static int kill(TestDatabase db) throws SQLException {
        int pid = pid(db);
        if (pid == 0) {
            throw new AssertionError("no listener connection to kill");
        }
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            st.execute("SELECT pg_terminate_backend(" + pid + ")");
        }
        return pid;
    }
}
