package io.cdcnotify.fanout;

import java.sql.Connection;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The position a leader puts on each message ({@code Page.positionAfter}, through its text form) hands over
 * exactly: a new leader reading on from any event's position, after any page size, gets every committed row
 * the old one had not published, once, with each transaction whole — also when the old one stopped inside a
 * transaction that a page cut, or among the late rows of a transaction that committed out of order.
 */
class HandOverPositionTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static Database database;
    private static OutboxReader reader;

    @BeforeAll
    static void open() {
        database = Database.open(new DbConfig(DB.url(), DB.user(), DB.password(), 4));
        reader = new OutboxReader(database.dataSource());
    }

    @AfterAll
    static void close() {
        database.close();
    }

    @Test
    void everyEventsPositionResumesExactlyWhatFollowsIt() throws Exception {
        Map<Long, Long> txOf = new LinkedHashMap<>(); // row id -> a transaction label
        List<Long> committed = new ArrayList<>();
        ReadPosition start = reader.head();
        // a transaction that starts first, writes, and commits late
        Connection late = Outbox.begin(DB);
        List<Long> lateRows = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            lateRows.add(Outbox.insert(late, "t", "INSERT", "{\"late\":" + i + "}"));
        }
        long label = 1;
        for (int t = 0; t < 6; t++, label++) {
            try (Connection c = Outbox.begin(DB)) {
                for (int i = 0; i <= t % 4; i++) {
                    long id = Outbox.insert(c, "t", "INSERT", "{\"t\":" + t + "}");
                    committed.add(id);
                    txOf.put(id, label);
                }
                c.commit();
            }
        }
        // pages are read while the late transaction is still open, then it commits, then more
        for (int limit = 1; limit <= 5; limit++) {
            List<OutboxEvent> published = new ArrayList<>();
            List<String> positions = new ArrayList<>();
            ReadPosition at = start;
            boolean lateCommitted = false;
            while (true) {
                OutboxReader.Page page = reader.read(at, limit, Set.of());
                for (int i = 0; i < page.events().size(); i++) {
                    published.add(page.events().get(i));
                    positions.add(page.positionAfter(i).encode());
                }
                at = page.next();
                if (!page.full()) {
                    if (lateCommitted) {
                        break;
                    }
                    if (limit == 1) {
                        late.commit();
                        for (long id : lateRows) {
                            committed.add(id);
                            txOf.put(id, 0L);
                        }
                        late.close();
                    }
                    lateCommitted = true;
                }
            }
            Set<Long> all = new HashSet<>(committed);
            assertThat(published).extracting(OutboxEvent::id).doesNotHaveDuplicates();
            assertThat(new HashSet<>(published.stream().map(OutboxEvent::id).toList())).isEqualTo(all);
            for (int k = 0; k < published.size(); k++) {
                ReadPosition handedOver = ReadPosition.decode(positions.get(k)).orElseThrow();
                assertThat(ReadPosition.decode(handedOver.encode()).orElseThrow().encode()).isEqualTo(positions.get(k));
                List<Long> sequence = new ArrayList<>(published.subList(0, k + 1).stream().map(OutboxEvent::id).toList());
                sequence.addAll(drain(handedOver));
                assertThat(sequence).as("limit %d, handed over after event %d", limit, k).doesNotHaveDuplicates();
                assertThat(new HashSet<>(sequence)).as("limit %d, handed over after event %d", limit, k).isEqualTo(all);
                assertWholeTransactions(sequence, txOf);
            }
        }
    }

    private static List<Long> drain(ReadPosition from) throws Exception {
        List<Long> ids = new ArrayList<>();
        ReadPosition at = from;
        OutboxReader.Page page;
        do {
            page = reader.read(at, 2, Set.of());
            page.events().forEach(e -> ids.add(e.id()));
            at = page.next();
        } while (page.full());
        return ids;
    }

    /** Each transaction's rows arrive consecutively. */
    private static void assertWholeTransactions(List<Long> sequence, Map<Long, Long> txOf) {
        Set<Long> finished = new HashSet<>();
        Long current = null;
        for (long id : sequence) {
            long tx = txOf.get(id);
            if (current == null || tx != current) {
                assertThat(finished).as("transaction %d came back after another began", tx).doesNotContain(tx);
                if (current != null) {
                    finished.add(current);
                }
                current = tx;
            }
        }
    }
}
