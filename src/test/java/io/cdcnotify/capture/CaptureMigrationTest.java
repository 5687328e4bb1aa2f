package io.cdcnotify.capture;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;

import io.cdcnotify.db.Captures;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.TestDatabase;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** Tables captured under schema version 3 keep being captured after version 4 migrates, with its trigger. */
class CaptureMigrationTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void version3CapturesAreReinstalledUnderTheNamesTheirEventsCarry() throws Exception {
        Flyway.configure().dataSource(DB.url(), DB.user(), DB.password()).schemas("cdc").createSchemas(true)
                .table("schema_history").locations("classpath:db/migration").target("3").load().migrate();
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.kept (id int PRIMARY KEY, secret text, note text)");
            st.execute("CREATE TABLE public.moved (id int PRIMARY KEY)");
            st.execute("CREATE TABLE public.broken (id int PRIMARY KEY)");
            st.execute("CREATE TABLE public.dropped (id int PRIMARY KEY)");
            st.execute("SELECT cdc.capture('public.kept', ARRAY['secret'])");
            st.execute("SELECT cdc.capture('public.moved')");
            st.execute("SELECT cdc.capture('public.broken')");
            st.execute("SELECT cdc.capture('public.dropped')");
            st.execute("ALTER TABLE public.moved RENAME TO moved_since"); // V3 events now say public.moved_since
            st.execute("ALTER TABLE public.broken RENAME TO \"broken name\""); // V3: every write to it fails
            st.execute("DROP TABLE public.dropped");
        }

        try (Database database = Captured.open(DB); Connection c = DB.connect(); Statement st = c.createStatement()) {
            assertThat(new Captures(database.client()).list())
                    .extracting(x -> x.table() + " -> " + x.currentTable().orElse("?") + " " + x.excludeColumns())
                    .containsExactly("public.broken -> public.\"broken name\" []",
                                     "public.kept -> public.kept [secret]",
                                     "public.moved_since -> public.moved_since []");
            long before = Captured.last(c);
            st.execute("INSERT INTO public.kept VALUES (1, 's3cret', NULL)");
            st.execute("INSERT INTO public.moved_since VALUES (2)");
            st.execute("INSERT INTO public.\"broken name\" VALUES (3)");
            assertThat(Captured.after(c, before))
                    .extracting(e -> e.table() + " " + e.operation() + " " + e.payload())
                    .containsExactly(
                            "public.kept INSERT {\"key\":{\"id\":1},\"new\":{\"id\":1,\"note\":null}}",
                            "public.moved_since INSERT {\"key\":{\"id\":2},\"new\":{\"id\":2}}",
                            "public.broken INSERT {\"key\":{\"id\":3},\"new\":{\"id\":3}}");
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_trigger WHERE tgname = 'cdc_capture' "
                                                + "AND tgnargs <> 3")) {
                rs.next();
                assertThat(rs.getInt(1)).as("triggers left with V3's arguments").isZero();
            }
        }
    }
}
