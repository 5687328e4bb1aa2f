package io.cdcnotify.outbox;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A page holds no more payload than its byte budget (beyond its first row), so one transaction of many large
 * rows is read in several pages instead of one that the heap cannot hold; reading on from each page's position
 * still gives every row once, in order, with transactions whole — also for the rest of a transaction a page cut.
 */
class PageBytesTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static Database database;

    @BeforeAll
    static void open() {
        database = Database.open(new DbConfig(DB.url(), DB.user(), DB.password(), 4));
    }

    @AfterAll
    static void close() {
        database.close();
    }

    @Test
    void largeRowsAreReadAFewAtATimeAndNothingIsLostOrRepeated() throws Exception {
        OutboxReader reader = new OutboxReader(database.dataSource(), 250_000);
        ReadPosition at = reader.head();
        String big = "{\"blob\":\"" + "x".repeat(100_000) + "\"}";
        List<Long> written = new ArrayList<>();
        try (Connection c = Outbox.begin(DB)) { // one transaction of 12 rows of ~100 KB, then small ones
            for (int i = 0; i < 12; i++) {
                written.add(Outbox.insert(c, "t", "INSERT", big));
            }
            for (int i = 0; i < 5; i++) {
                written.add(Outbox.insert(c, "t", "INSERT", "{\"n\":" + i + "}"));
            }
            c.commit();
        }
        try (Connection c = Outbox.begin(DB)) {
            written.add(Outbox.insert(c, "t", "INSERT", big));
            c.commit();
        }
        List<Long> read = new ArrayList<>();
        int pages = 0;
        while (true) {
            OutboxReader.Page page = reader.read(at, 1000, Set.of());
            long bytes = page.events().stream().skip(1).mapToLong(e -> e.payload().length()).sum();
            assertThat(bytes).as("payload beyond the first row").isLessThan(250_000);
            page.events().forEach(e -> read.add(e.id()));
            at = page.next();
            if (page.events().isEmpty()) {
                break;
            }
            pages++;
            assertThat(pages).isLessThan(50);
        }
        assertThat(read).containsExactlyElementsOf(written);
        assertThat(pages).as("pages for 13 large rows at ~3 a page").isGreaterThanOrEqualTo(5);
    }

    @Test
    void aRowLargerThanTheBudgetStillComesAlone() throws Exception {
        OutboxReader reader = new OutboxReader(database.dataSource(), 1_000);
        ReadPosition at = reader.head();
        String big = "{\"blob\":\"" + "y".repeat(5_000) + "\"}";
        List<Long> written = new ArrayList<>();
        try (Connection c = Outbox.begin(DB)) {
            written.add(Outbox.insert(c, "t", "INSERT", big));
            written.add(Outbox.insert(c, "t", "INSERT", big));
            c.commit();
        }
        OutboxReader.Page first = reader.read(at, 1000, Set.of());
        assertThat(first.events()).extracting(OutboxEvent::id).containsExactly(written.get(0));
        assertThat(first.full()).as("cut by its budget: more follows at once").isTrue();
        OutboxReader.Page second = reader.read(first.next(), 1000, Set.of());
        assertThat(second.events()).extracting(OutboxEvent::id).containsExactly(written.get(1));
    }
}
