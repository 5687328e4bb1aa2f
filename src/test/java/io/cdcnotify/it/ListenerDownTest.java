package io.cdcnotify.it;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Listener;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** While the LISTEN connection cannot come back, /health says so; once it can, it is back within a second and catches up. */
class ListenerDownTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.ownServers();
    private static final TestDatabase DB = CDC.db();

    @Test
    void healthIs503WhileTheListenerIsDownAndEventsCommittedMeanwhileArriveAfter() throws Exception {
        try (CdcServer server = CDC.start(Map.of());
             WsTestClient ws = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY);
             Connection writer = DB.connect()) {
            ws.subscribe("r", List.of("downtime"));
            // CDC.start returned once /health said 200: the listener has LISTENed and caught up
            long missed;
            int pid = Listener.pid(DB);
            allowConnections(false);
            try {
                try (Statement st = writer.createStatement()) {
                    st.execute("SELECT pg_terminate_backend(" + pid + ")");
                }
                await().atMost(Duration.ofSeconds(5)).until(() -> Api.get(server.http("/health"), null).status() == 503);
                Api.Response health = Api.get(server.http("/health"), null);
                assertThat(health.json().get("status").asText()).isEqualTo("DOWN");
                assertThat(health.json().at("/checks/listener").asText()).isEqualTo("DOWN");
                missed = Outbox.insert(writer, "downtime", "INSERT", "{\"while\":\"down\"}");
            } finally {
                allowConnections(true);
            }
            long back = System.nanoTime();
            await().atMost(Duration.ofSeconds(5)).until(() -> Api.get(server.http("/health"), null).status() == 200);
            // capped backoff: back well within the contract's second once the database takes connections again
            assertThat(Duration.ofNanos(System.nanoTime() - back)).isLessThan(Duration.ofSeconds(3));
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(missed);
        }
    }

    private static void allowConnections(boolean allow) throws Exception {
        String name = DB.url().substring(DB.url().lastIndexOf('/') + 1);
        String base = DB.url().substring(0, DB.url().lastIndexOf('/') + 1);
        try (Connection admin = DriverManager.getConnection(base + "postgres", DB.user(), DB.password());
             Statement st = admin.createStatement()) {
            st.execute("ALTER DATABASE " + name + " ALLOW_CONNECTIONS " + allow);
        }
    }
}
