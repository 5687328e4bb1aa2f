package io.cdcnotify.capture;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.cdcnotify.db.Captures;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The capture trigger runs inside the application's statements: nothing it does may make one fail, whatever
 * happens to the table, and its events keep the name the table was captured by.
 */
class CaptureNeverBreaksWritesTest {

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

    /** What the writers committed; each count is of rows the statements reported changed. */
    private static final class Writes {
        final Set<Long> inserted = ConcurrentHashMap.newKeySet();
        final AtomicLong updated = new AtomicLong();
        final AtomicLong deleted = new AtomicLong();
        final AtomicLong statements = new AtomicLong();
        final List<SQLException> failures = Collections.synchronizedList(new ArrayList<>());
    }

    @Test
    void renamesColumnChangesAndTruncatesDuringWritesFailNoStatementAndLoseOrRenameNoEvent() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.busy (id bigint PRIMARY KEY, writer int NOT NULL, seq int NOT NULL, "
                       + "note varchar(20), extra int)");
            // The writers go through a view, which follows the table by oid across renames, as an application
            // redeployed with the new name would: the point is what the trigger does, not name resolution.
            st.execute("CREATE VIEW public.busy_writes AS SELECT id, writer, seq FROM public.busy");
        }
        assertThat(captures.add("public.busy", List.of()).table()).isEqualTo("public.busy");
        long before;
        try (Connection c = DB.connect()) {
            before = Captured.last(c);
        }

        Writes writes = new Writes();
        AtomicBoolean running = new AtomicBoolean(true);
        List<Thread> writers = new ArrayList<>();
        for (int w = 1; w <= 4; w++) {
            int writer = w;
            writers.add(Thread.ofPlatform().name("busy-writer-" + w).start(() -> write(writer, writes, running)));
        }
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            List<String> ddl = List.of(
                    "ALTER TABLE public.busy RENAME TO \"busy odd-ü\"",
                    "ALTER TABLE public.\"busy odd-ü\" ADD COLUMN added text DEFAULT 'x'",
                    "ALTER TABLE public.\"busy odd-ü\" ALTER COLUMN extra TYPE bigint",
                    "ALTER TABLE public.\"busy odd-ü\" ALTER COLUMN note TYPE text",
                    "ALTER TABLE public.\"busy odd-ü\" DROP COLUMN added",
                    "TRUNCATE public.\"busy odd-ü\"",
                    "CREATE SCHEMA elsewhere",
                    "ALTER TABLE public.\"busy odd-ü\" SET SCHEMA elsewhere",
                    "ALTER TABLE elsewhere.\"busy odd-ü\" RENAME TO \"Busy.Table\"",
                    "ALTER TABLE elsewhere.\"Busy.Table\" ADD COLUMN payload jsonb DEFAULT '{\"n\": null}'",
                    "TRUNCATE elsewhere.\"Busy.Table\"");
            for (String statement : ddl) {
                long seen = writes.statements.get();
                await().atMost(Duration.ofSeconds(30)).until(() -> writes.statements.get() >= seen + 100
                                                                   || !writes.failures.isEmpty());
                st.execute(statement);
            }
            long seen = writes.statements.get();
            await().atMost(Duration.ofSeconds(30)).until(() -> writes.statements.get() >= seen + 100
                                                               || !writes.failures.isEmpty());
        } finally {
            running.set(false);
            for (Thread t : writers) {
                t.join(Duration.ofSeconds(30));
            }
        }

        assertThat(writes.failures).as("application statements that failed").isEmpty();
        try (Connection c = DB.connect()) {
            List<Captured.Event> events = Captured.after(c, before);
            assertThat(events).extracting(Captured.Event::table).containsOnly("public.busy");
            Set<Long> insertedEvents = new HashSet<>();
            for (Captured.Event e : events) {
                if (e.operation().equals("INSERT")) {
                    assertThat(insertedEvents.add(e.payload().at("/new/id").asLong())).as("one event per row").isTrue();
                }
            }
            assertThat(insertedEvents).isEqualTo(writes.inserted);
            assertThat(events.stream().filter(e -> e.operation().equals("UPDATE")).count())
                    .isEqualTo(writes.updated.get());
            assertThat(events.stream().filter(e -> e.operation().equals("DELETE")).count())
                    .isEqualTo(writes.deleted.get());
            // the images follow the table's columns as they are at each write
            Captured.Event lastEvent = events.getLast();
            assertThat(lastEvent.payload().at("/new").has("payload") || lastEvent.payload().at("/old").has("payload"))
                    .isTrue();
            assertThat(writes.inserted.size()).isGreaterThan(1000);
        }
        Captures.Capture capture = captures.list().stream().filter(x -> x.table().equals("public.busy")).findFirst()
                .orElseThrow();
        assertThat(capture.currentTable()).contains("elsewhere.\"Busy.Table\"");

        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            // capturing it again keeps the captured name: its subscribers are not moved to the new name
            try (var rs = st.executeQuery("SELECT cdc.capture('elsewhere.\"Busy.Table\"')")) {
                rs.next();
                assertThat(rs.getString(1)).isEqualTo("public.busy");
            }
            // released by the captured name, although no table is called that any more
            assertThat(captures.remove("public.busy")).isTrue();
            long after = Captured.last(c);
            st.execute("INSERT INTO elsewhere.\"Busy.Table\" (id, writer, seq) VALUES (1, 0, 0)");
            assertThat(Captured.after(c, after)).isEmpty();
            assertThat(captures.list()).extracting(Captures.Capture::table).doesNotContain("public.busy");
        }
    }

    @Test
    void aDroppedTableLeavesACaptureWithoutCurrentNameAndItsNameCanBeCapturedAgain() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.short_lived (id int PRIMARY KEY)");
            captures.add("public.short_lived", List.of());
            st.execute("DROP TABLE public.short_lived");
            assertThat(captures.list()).filteredOn(x -> x.table().equals("public.short_lived"))
                    .singleElement().satisfies(x -> assertThat(x.currentTable()).isEmpty());

            // a new table of that name is captured under it; the old capture is gone
            st.execute("CREATE TABLE public.short_lived (id int PRIMARY KEY, v text)");
            assertThat(captures.add("public.short_lived", List.of()).currentTable()).contains("public.short_lived");
            long before = Captured.last(c);
            st.execute("INSERT INTO public.short_lived VALUES (1, NULL)");
            assertThat(Captured.after(c, before)).extracting(e -> e.table() + " " + e.payload())
                    .containsExactly("public.short_lived {\"key\":{\"id\":1},\"new\":{\"v\":null,\"id\":1}}");

            st.execute("DROP TABLE public.short_lived");
            assertThat(captures.remove("public.short_lived")).isTrue();
            assertThat(captures.list()).extracting(Captures.Capture::table).doesNotContain("public.short_lived");
        }
    }

    @Test
    void anApplicationRoleWithNoRightsOnTheCdcSchemaIsCaptured() throws Exception {
        String role = "cdc_capture_app_" + Integer.toHexString(ThreadLocalRandom.current().nextInt())
                .toLowerCase(Locale.ROOT);
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.app_owned (id int PRIMARY KEY, v text)");
            st.execute("CREATE ROLE " + role + " LOGIN");
            st.execute("GRANT USAGE ON SCHEMA public TO " + role);
            st.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON public.app_owned TO " + role);
            st.execute("REVOKE ALL ON SCHEMA cdc FROM PUBLIC");
        }
        try {
            captures.add("public.app_owned", List.of());
            try (Connection c = DB.connect(); Connection app = DriverManager.getConnection(DB.url(), role, "");
                 Statement st = app.createStatement()) {
                long before = Captured.last(c);
                st.execute("INSERT INTO public.app_owned VALUES (1, 'by the application')");
                st.execute("UPDATE public.app_owned SET v = NULL");
                st.execute("DELETE FROM public.app_owned");
                assertThat(Captured.after(c, before)).extracting(Captured.Event::operation)
                        .containsExactly("INSERT", "UPDATE", "DELETE");

                // The trigger function writes with the service's rights, so it is not for anyone to attach: a role
                // that may make tables and triggers still cannot use it to write events of any table name.
                try (Statement admin = c.createStatement()) {
                    admin.execute("GRANT USAGE ON SCHEMA cdc TO " + role);
                    admin.execute("GRANT CREATE ON SCHEMA public TO " + role);
                }
                st.execute("CREATE TABLE public.forger (id int)");
                assertThatThrownBy(() -> st.execute("CREATE TRIGGER forge AFTER INSERT ON public.forger FOR EACH ROW "
                                                    + "EXECUTE FUNCTION cdc.capture_row('public.orders', '{}', '{}')"))
                        .isInstanceOf(SQLException.class).hasMessageContaining("permission denied");
            }
        } finally {
            try (Connection c = DB.connect(); Statement st = c.createStatement()) {
                st.execute("DROP OWNED BY " + role);
                st.execute("DROP ROLE " + role);
            }
        }
    }

    @Test
    void aRowTooLargeForTheOutboxOrWithoutAJsonbFormIsSentAsItsKeyAndTheWriteSucceeds() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.odd_rows (id int PRIMARY KEY, body text, doc json)");
            captures.add("public.odd_rows", List.of());
            long before = Captured.last(c);
            st.execute("INSERT INTO public.odd_rows VALUES (1, repeat('x', 1100000), NULL)");
            // json keeps the escape of a NUL character as written; jsonb, and so to_jsonb of the row, cannot represent it
            st.execute("INSERT INTO public.odd_rows VALUES (2, 'fine', '{\"a\": \"\\u0000\"}')");
            st.execute("UPDATE public.odd_rows SET body = 'small' WHERE id = 1");
            st.execute("DELETE FROM public.odd_rows WHERE id = 2");
            assertThat(Captured.after(c, before)).extracting(e -> e.operation() + " " + e.payload()).containsExactly(
                    "INSERT {\"key\":{\"id\":1},\"truncated\":true}",
                    "INSERT {\"key\":{\"id\":2},\"truncated\":true}",
                    "UPDATE {\"key\":{\"id\":1},\"truncated\":true}",
                    "DELETE {\"key\":{\"id\":2},\"truncated\":true}");
        }
    }

    private static void write(int writer, Writes writes, AtomicBoolean running) {
        try (Connection c = DB.connect();
             PreparedStatement insert = c.prepareStatement("INSERT INTO public.busy_writes VALUES (?, ?, ?)");
             PreparedStatement update = c.prepareStatement("UPDATE public.busy_writes SET seq = seq + 1 WHERE id = ?");
             PreparedStatement delete = c.prepareStatement("DELETE FROM public.busy_writes WHERE id = ?")) {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (long i = 1; running.get(); i++) {
                long id = writer * 1_000_000_000L + i;
                try {
                    insert.setLong(1, id);
                    insert.setInt(2, writer);
                    insert.setLong(3, i);
                    if (insert.executeUpdate() == 1) {
                        writes.inserted.add(id);
                    }
                    if (i % 3 == 0) {
                        update.setLong(1, id - random.nextInt(3));
                        writes.updated.addAndGet(update.executeUpdate());
                    }
                    if (i % 5 == 0) {
                        delete.setLong(1, id - 1 - random.nextInt(4));
                        writes.deleted.addAndGet(delete.executeUpdate());
                    }
                    writes.statements.incrementAndGet();
                } catch (SQLException e) {
                    writes.failures.add(e);
                    return;
                }
            }
        } catch (SQLException e) {
            writes.failures.add(e);
        }
    }
}
