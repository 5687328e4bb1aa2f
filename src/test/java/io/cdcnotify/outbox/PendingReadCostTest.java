package io.cdcnotify.outbox;

import java.sql.Connection;
import java.sql.Statement;
import java.util.Arrays;
import java.util.Set;

import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A transaction still in progress below the read position (a <em>pending</em> one) costs a read one index probe,
 * not a walk of the outbox, whatever plan PostgreSQL picks for the reader's statement.
 *
 * <p>pgjdbc prepares a statement on the server from its fifth use on a connection, and PostgreSQL then plans it
 * once for any parameters (a generic plan) when it estimates that to be cheaper. For the page's "late rows of
 * pending transactions" half, the generic plan of a plain join of the outbox with the pending array was a merge
 * join that walked the whole {@code (xid, id)} index: 6–11 ms a read at 40,000 rows, growing with the outbox. The
 * test forces each kind of plan on the database and compares reads with a pending transaction to reads without
 * one, on an outbox of 100,000 rows written by one transaction, by the median of many reads in the same run (a
 * ratio, so a slow machine slows both). With the plain join: 14.3 against 0.27 ms (generic plans: the merge join)
 * and 14.1 against 0.88 ms (custom plans: with one transaction's xid on every row, the planner walked the primary
 * key from the pending row's id and filtered on the xid). With the {@code LATERAL} ranges: 0.23–0.31 against
 * 0.28–0.36 ms, and 0.92–0.93 against 0.98–0.99 ms.
 */
class PendingReadCostTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final int ROWS = 100_000;
    private static final int READS = 40;

    private Database database;

    @AfterEach
    void close() {
        if (database != null) {
            database.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"force_generic_plan", "force_custom_plan"})
    void aPendingTransactionCostsAReadAnIndexProbeNotAWalkOfTheOutbox(String planCacheMode) throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            // the pool's connections are opened below, after this: each of them plans the reader's statements so
            st.execute("ALTER DATABASE " + c.getCatalog() + " SET plan_cache_mode = " + planCacheMode);
        }
        database = Database.open(new DbConfig(DB.url(), DB.user(), DB.password(), 2)); // migrates on first use
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("TRUNCATE cdc.outbox");
            st.execute("INSERT INTO cdc.outbox (table_name, operation, payload) "
                    + "SELECT 't' || (n % 100), 'INSERT', jsonb_build_object('n', n) FROM generate_series(1, " + ROWS + ") n");
            st.execute("ANALYZE cdc.outbox");
        }
        OutboxReader reader = new OutboxReader(database.dataSource());
        ReadPosition head = reader.head();
        try (Connection pending = Outbox.begin(DB)) {
            long late = Outbox.insert(pending, "t1", "INSERT", "{\"late\":true}"); // its xid is below the next row's
            long committed = Outbox.insert(DB, "t2", "INSERT", "{\"committed\":true}");
            OutboxReader.Page first = reader.read(head, 1000, Set.of());
            assertThat(first.events()).extracting(OutboxEvent::id).containsExactly(committed);
            ReadPosition withPending = first.next();
            assertThat(withPending.pendingXids()).as("the open transaction is pending").hasSize(1);
            assertThat(head.pendingXids()).isEmpty();

            double without = medianMillis(reader, head, Set.of());
            double with = medianMillis(reader, withPending, Set.of());
            double withTables = medianMillis(reader, withPending, Set.of("t1", "t3"));
            assertThat(with).as("median ms of a read with a pending transaction, against %.3f without", without)
                    .isLessThan(Math.max(5 * without, 2.0));
            assertThat(withTables).as("the same for a read of some tables, against %.3f without", without)
                    .isLessThan(Math.max(5 * without, 2.0));

            pending.commit();
            OutboxReader.Page after = reader.read(withPending, 1000, Set.of());
            assertThat(after.events()).as("the late row, once").extracting(OutboxEvent::id).containsExactly(late);
            assertThat(after.next().pendingXids()).isEmpty();
        }
    }

    /** The median wall time of {@link #READS} reads from one position (after five to warm up and prepare). */
    private static double medianMillis(OutboxReader reader, ReadPosition from, Set<String> tables) throws Exception {
        for (int i = 0; i < 5; i++) {
            reader.read(from, 1000, tables);
        }
        long[] nanos = new long[READS];
        for (int i = 0; i < READS; i++) {
            long start = System.nanoTime();
            reader.read(from, 1000, tables);
            nanos[i] = System.nanoTime() - start;
        }
        Arrays.sort(nanos);
        return nanos[READS / 2] / 1e6;
    }
}
