package io.cdcnotify.hostile;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * No silent death (issue 12): when a thread the delivery depends on dies or stops making progress, {@code /health}
 * says DOWN within 5 s, and the service recovers (a new thread, catching up from the outbox so that nothing is
 * lost) or exits; it never goes on answering UP while delivering nothing.
 *
 * <p>The child is {@link FaultInjectingMain} ({@code Main}'s wiring plus the listener's fault seam over stdin)
 * with a 128 MiB heap and the stall timeout at 2 s, so that a stuck thread is noticed within the 5 s.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ListenerDeathTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final Duration DOWN_WITHIN = Duration.ofSeconds(5);
    private static final Duration BACK_WITHIN = Duration.ofSeconds(10);

    private static ChildService service;

    @BeforeAll
    static void start() {
        service = ChildService.start(DB, ListenerDeathTest.class, "128m",
                                     Map.of("cdc.listener.stall-timeout-ms", "2000"),
                                     FaultInjectingMain.class.getName());
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.close();
        }
    }

    /**
     * An {@link OutOfMemoryError} at every turn of one of the listener's threads (the LISTEN thread, the outbox
     * reader): {@code /health} 503 DOWN and {@code cdc_listener_connected} 0 within 5 s; once the error stops, a
     * replacement thread is back within 10 s and the client gets the events committed meanwhile, in order.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"outbox-listener", "outbox-reader"})
    void aListenerThreadThatDiesTurnsHealthDownAndIsReplaced(String thread) throws Exception {
        assertThat(service.stdoutLines().stream().anyMatch(l -> l.contains("fault seam: present")))
                .as("the listener's fault-injection seam (OutboxListener.injectFault, TestAccess.setupReturningListener)")
                .isTrue();
        service.awaitHealthy(BACK_WITHIN);
        String table = "died_" + thread.replace('-', '_');
        ChildService.Key key = service.createKey("died", List.of(table));
        try (WsTestClient client = WsTestClient.connect(service.ws("/v1/ws"),
                                                        Map.of("Authorization", "Bearer " + key.secret()));
             Connection db = DB.connect()) {
            client.expect("auth_ok");
            client.subscribe("r", List.of(table));
            write(db, table, 1, 3);
            assertThat(client.events(3, Duration.ofSeconds(10))).hasSize(3);

            service.command("fail " + thread);
            long failed = System.nanoTime();
            awaitHealth(503, DOWN_WITHIN);
            assertThat(Duration.ofNanos(System.nanoTime() - failed)).isLessThan(DOWN_WITHIN);
            JsonNode health = ChildService.json(service.get("/health", null).body());
            assertThat(health.path("status").asText()).isEqualTo("DOWN");
            assertThat(service.metric("cdc_listener_connected")).as("cdc_listener_connected while dead")
                    .isEqualTo(0.0);
            write(db, table, 4, 6);

            service.command("heal");
            if (exitedInstead()) {
                return;
            }
            awaitHealth(200, BACK_WITHIN);
            write(db, table, 7, 9);
            List<JsonNode> events = client.events(6, Duration.ofSeconds(15));
            for (int i = 0; i < 6; i++) {
                assertThat(events.get(i).path("payload").path("n").asInt()).as("event %d", i + 4).isEqualTo(i + 4);
            }
            assertThat(service.metric("cdc_listener_connected")).isEqualTo(1.0);
            assertThat(service.metric("cdc_listener_last_progress_seconds")).isLessThan(5.0);
        }
    }

    /**
     * The outbox reader blocked (a DBA's {@code LOCK TABLE cdc.outbox} in an open transaction): no error, no
     * death, just no progress. {@code /health} 503 within 5 s (the stall timeout is 2 s here); once the lock goes,
     * back to 200 and every event committed after it arrives.
     */
    @Test
    void aReaderThatMakesNoProgressTurnsHealthDownAndRecovers() throws Exception {
        service.awaitHealthy(BACK_WITHIN);
        String table = "stuck";
        ChildService.Key key = service.createKey("stuck", List.of(table));
        try (WsTestClient client = WsTestClient.connect(service.ws("/v1/ws"),
                                                        Map.of("Authorization", "Bearer " + key.secret()));
             Connection db = DB.connect();
             Connection locker = DB.connect()) {
            client.expect("auth_ok");
            client.subscribe("r", List.of(table));
            write(db, table, 1, 2);
            assertThat(client.events(2, Duration.ofSeconds(10))).hasSize(2);

            locker.setAutoCommit(false);
            try (Statement st = locker.createStatement()) {
                st.execute("LOCK TABLE cdc.outbox IN ACCESS EXCLUSIVE MODE");
                long locked = System.nanoTime();
                // the reader's next read (at the latest the 1 s safety tick) blocks on the lock
                awaitHealth(503, DOWN_WITHIN.plusSeconds(1));
                assertThat(Duration.ofNanos(System.nanoTime() - locked)).isLessThan(DOWN_WITHIN.plusSeconds(1));
            } finally {
                locker.rollback();
            }
            awaitHealth(200, BACK_WITHIN);
            write(db, table, 3, 5);
            List<JsonNode> events = client.events(3, Duration.ofSeconds(15));
            for (int i = 0; i < 3; i++) {
                assertThat(events.get(i).path("payload").path("n").asInt()).isEqualTo(i + 3);
            }
        }
    }

    /**
     * Ending the process is the other allowed answer to a dead thread (a supervisor restarts it): then there is
     * nothing more to check here, and the next test gets a new child.
     */
    private static boolean exitedInstead() {
        ChildService.pause(500);
        if (service.alive()) {
            return false;
        }
        service.close();
        start();
        return true;
    }

    private static void write(Connection db, String table, int from, int to) throws Exception {
        try (PreparedStatement st = db.prepareStatement(
                "INSERT INTO cdc.outbox (table_name, operation, payload) VALUES (?, 'INSERT', ?::jsonb)")) {
            for (int n = from; n <= to; n++) {
                st.setString(1, table);
                st.setString(2, "{\"n\":" + n + "}");
                st.executeUpdate();
            }
        }
    }

    private static void awaitHealth(int status, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        int last = -1;
        while (System.nanoTime() < deadline) {
            if (!service.alive()) {
                // exiting is an allowed answer to a dead thread, but only with /health having said DOWN first
                throw new AssertionError("the service exited:\n" + service.tail());
            }
            ChildService.Answer r = service.get("/health", null);
            last = r.statusCode();
            if (last == status) {
                return;
            }
            ChildService.pause(100);
        }
        throw new AssertionError("/health was not " + status + " within " + wait + " (last " + last + ")");
    }
}
