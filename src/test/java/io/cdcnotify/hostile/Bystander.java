package io.cdcnotify.hostile;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A well-behaved client beside an attack: its own key and table, a WebSocket that reads everything, and a
 * writer that commits one small event every few milliseconds while the attack goes on. Afterwards it must
 * have received every event written, once each, in order.
 */
final class Bystander implements AutoCloseable {

    /** At most this many events per attack, so a stuck test cannot write without end. */
    private static final int MAX_EVENTS = 2_000;
    private static final Duration EVERY = Duration.ofMillis(25);

    private final TestDatabase db;
    private final String table;
    private final WsTestClient client;
    private final AtomicBoolean writing = new AtomicBoolean();
    private final AtomicBoolean paused = new AtomicBoolean();
    private final AtomicInteger written = new AtomicInteger();
    private final List<Throwable> writeErrors = new ArrayList<>();
    private Thread writer;

    private Bystander(TestDatabase db, String table, WsTestClient client) {
        this.db = db;
        this.table = table;
        this.client = client;
    }

    /** Connects on a key of its own for {@code table}, subscribes, and starts writing. */
    static Bystander start(ChildService service, TestDatabase db, String table) {
        ChildService.Key key = service.createKey("bystander-" + table, List.of(table));
        WsTestClient client = WsTestClient.authenticated(service.ws("/v1/ws"), key.secret());
        client.subscribe("bystander", List.of(table));
        Bystander b = new Bystander(db, table, client);
        b.startWriting();
        return b;
    }

    private void startWriting() {
        writing.set(true);
        writer = Thread.ofVirtual().name("bystander-writer-" + table).start(() -> {
            try (Connection c = db.connect();
                 PreparedStatement st = c.prepareStatement(
                         "INSERT INTO cdc.outbox (table_name, operation, payload) VALUES (?, 'INSERT', ?::jsonb)")) {
                while (writing.get() && written.get() < MAX_EVENTS) {
                    if (paused.get()) {
                        Thread.sleep(EVERY);
                        continue;
                    }
                    st.setString(1, table);
                    st.setString(2, "{\"n\":" + (written.get() + 1) + "}");
                    st.executeUpdate();
                    written.incrementAndGet();
                    Thread.sleep(EVERY);
                }
            } catch (Exception e) {
                synchronized (writeErrors) {
                    writeErrors.add(e);
                }
            }
        });
    }

    /** Stops writing; asserts the client got every event written, in order, and nothing else. */
    void assertReceivedEverything() {
        writing.set(false);
        try {
            writer.join(Duration.ofSeconds(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        synchronized (writeErrors) {
            assertThat(writeErrors).as("the bystander's writer").isEmpty();
        }
        int n = written.get();
        assertThat(n).as("events the bystander's writer committed").isPositive();
        List<JsonNode> events = client.events(n, Duration.ofSeconds(30));
        for (int i = 0; i < n; i++) {
            assertThat(events.get(i).path("payload").path("n").asInt())
                    .as("the bystander's event %d of %d", i + 1, n).isEqualTo(i + 1);
        }
        // nothing more: no duplicate, no error, no close
        ChildService.pause(200);
        assertThat(client.drain()).as("messages after the last event").isEmpty();
        assertThat(client.closeFuture()).as("the bystander's connection").isNotDone();
    }

    /** Stops writing until {@link #resumeWriting()}, and waits for what was written to be delivered. */
    void pauseWriting() {
        paused.set(true);
        ChildService.pause(300);
    }

    void resumeWriting() {
        paused.set(false);
    }

    int written() {
        return written.get();
    }

    @Override
    public void close() {
        writing.set(false);
        client.close();
    }
}
