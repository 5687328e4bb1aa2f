package io.cdcnotify.capture;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

import io.cdcnotify.db.Captures;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Capturing a partitioned table captures its partitions, present and future, under the parent's name; a row that
 * an UPDATE moves to another partition arrives as a DELETE and an INSERT (PostgreSQL's own model of the move).
 */
class PartitionedCaptureTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static Database database;
    private static Captures captures;

    @BeforeAll
    static void open() {
        database = Captured.open(DB);
        captures = new Captures(database.client());
    }

    @AfterAll
    static void close() {
        database.close();
    }

    @Test
    void everyPartitionPresentAndFutureIsCapturedUnderTheParentsName() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.parted (id int, region text, amount int, PRIMARY KEY (id, region)) "
                       + "PARTITION BY LIST (region)");
            st.execute("CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu')");
            st.execute("CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us')");
            assertThat(captures.add("public.parted", List.of()).table()).isEqualTo("public.parted");
            // after capturing: a new partition, a table attached as one, and a sub-partitioned partition
            st.execute("CREATE TABLE public.parted_asia PARTITION OF public.parted FOR VALUES IN ('asia')");
            st.execute("CREATE TABLE public.parted_af (id int NOT NULL, region text NOT NULL, amount int)");
            st.execute("ALTER TABLE public.parted ATTACH PARTITION public.parted_af FOR VALUES IN ('af')");
            st.execute("CREATE TABLE public.parted_sa PARTITION OF public.parted FOR VALUES IN ('sa') "
                       + "PARTITION BY RANGE (id)");
            st.execute("CREATE TABLE public.parted_sa_low PARTITION OF public.parted_sa FOR VALUES FROM (0) TO (1000)");

            long before = Captured.last(c);
            st.execute("INSERT INTO public.parted VALUES (1, 'eu', 10), (2, 'us', 20), (3, 'asia', 30), "
                       + "(4, 'af', 40), (5, 'sa', 50)");
            st.execute("INSERT INTO public.parted_eu VALUES (6, 'eu', 60)"); // straight into a partition
            st.execute("UPDATE public.parted SET amount = 11 WHERE id = 1"); // stays in its partition
            st.execute("UPDATE public.parted SET region = 'us' WHERE id = 1"); // moves eu -> us
            st.execute("UPDATE public.parted SET region = 'sa' WHERE id IN (3, 4)"); // two rows move into sa_low
            st.execute("DELETE FROM public.parted WHERE id = 5");

            List<Captured.Event> events = Captured.after(c, before);
            assertThat(events).extracting(Captured.Event::table).containsOnly("public.parted");
            List<String> moves = events.get(9).payload().at("/key/id").asInt() == 3
                    ? List.of("DELETE {\"id\":3,\"region\":\"asia\"}", "INSERT {\"id\":3,\"region\":\"sa\"}",
                              "DELETE {\"id\":4,\"region\":\"af\"}", "INSERT {\"id\":4,\"region\":\"sa\"}")
                    : List.of("DELETE {\"id\":4,\"region\":\"af\"}", "INSERT {\"id\":4,\"region\":\"sa\"}",
                              "DELETE {\"id\":3,\"region\":\"asia\"}", "INSERT {\"id\":3,\"region\":\"sa\"}");
            assertThat(events).extracting(e -> e.operation() + " " + e.payload().get("key"))
                    .containsExactly(
                            "INSERT {\"id\":1,\"region\":\"eu\"}", "INSERT {\"id\":2,\"region\":\"us\"}",
                            "INSERT {\"id\":3,\"region\":\"asia\"}", "INSERT {\"id\":4,\"region\":\"af\"}",
                            "INSERT {\"id\":5,\"region\":\"sa\"}", "INSERT {\"id\":6,\"region\":\"eu\"}",
                            "UPDATE {\"id\":1,\"region\":\"eu\"}",
                            "DELETE {\"id\":1,\"region\":\"eu\"}", "INSERT {\"id\":1,\"region\":\"us\"}",
                            // the two rows of one statement move in the order it met them, each as a pair
                            moves.get(0), moves.get(1), moves.get(2), moves.get(3),
                            "DELETE {\"id\":5,\"region\":\"sa\"}");
            // a move: the row as it was, then as it is, written by one transaction one after the other
            Captured.Event gone = events.get(7);
            Captured.Event arrived = events.get(8);
            assertThat(gone.payload().get("old")).isEqualTo(Captured.json("{\"id\":1,\"region\":\"eu\",\"amount\":11}"));
            assertThat(arrived.payload().get("new")).isEqualTo(Captured.json("{\"id\":1,\"region\":\"us\",\"amount\":11}"));
            assertThat(arrived.id()).isEqualTo(gone.id() + 1);
            assertThat(xid(c, gone.id())).isEqualTo(xid(c, arrived.id()));

            // a partition of a captured table is captured already; the parent's release releases them all
            assertThatThrownBy(() -> captures.add("public.parted_eu", List.of()))
                    .isInstanceOf(Captures.Refused.class)
                    .hasMessageContaining("partition of a captured table").hasMessageContaining("public.parted");
            assertThat(captures.remove("public.parted")).isTrue();
            long released = Captured.last(c);
            st.execute("INSERT INTO public.parted VALUES (7, 'eu', 70), (8, 'sa', 80)");
            assertThat(Captured.after(c, released)).isEmpty();
        }
    }

    @Test
    void aParentWhosePartitionIsCapturedOnItsOwnIsRefusedUntilTheyAreReleased() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.split (id int PRIMARY KEY) PARTITION BY RANGE (id)");
            st.execute("CREATE TABLE public.split_low PARTITION OF public.split FOR VALUES FROM (0) TO (100)");
            assertThat(captures.add("public.split_low", List.of()).table()).isEqualTo("public.split_low");
            assertThatThrownBy(() -> captures.add("public.split", List.of()))
                    .isInstanceOf(Captures.Refused.class)
                    .hasMessageContaining("captured on its own").hasMessageContaining("public.split_low");
            assertThat(captures.remove("public.split_low")).isTrue();
            assertThat(captures.add("public.split", List.of()).table()).isEqualTo("public.split");
            long before = Captured.last(c);
            st.execute("INSERT INTO public.split VALUES (1)");
            assertThat(Captured.after(c, before)).extracting(Captured.Event::table).containsExactly("public.split");
        }
    }

    private static String xid(Connection c, long id) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT xid::text FROM cdc.outbox WHERE id = " + id)) {
            rs.next();
            return rs.getString(1);
        }
    }
}
