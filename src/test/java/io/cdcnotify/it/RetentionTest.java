package io.cdcnotify.it;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Outbox retention deletes old rows in the background; a cursor from before it gets resume_unavailable. */
class RetentionTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.ownServers();
    private static final TestDatabase DB = CDC.db();

    @Test
    void oldRowsAreDeletedAndAnOldCursorGetsResumeUnavailable() throws Exception {
        try (CdcServer server = CDC.start(Map.of("cdc.outbox.retention-seconds", "1",
                                                           "cdc.outbox.purge-batch", "7"))) {
            String key = Api.createKey(server, List.of("aging"));
            String oldCursor;
            try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
                ws.subscribe("r", List.of("aging"));
                for (int i = 0; i < 20; i++) {
                    CDC.insert("aging", "INSERT", "{\"i\":" + i + "}");
                }
                oldCursor = ws.events(20, Duration.ofSeconds(10)).getFirst().get("cursor").asText();
            }
            // the contract: older rows go within max(10 s, retention / 10)
            await().atMost(Duration.ofSeconds(12)).until(() -> outboxRows() == 0);

            try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
                ws.send(Map.of("type", "subscribe", "request_id", "old", "tables", List.of("aging"), "resume_from", oldCursor));
                var error = ws.expect("error");
                assertThat(error.get("code").asText()).isEqualTo("resume_unavailable");
                assertThat(error.get("request_id").asText()).isEqualTo("old");
            }
            try (SseTestClient sse = SseTestClient.open(server.http("/v1/events?tables=aging"),
                                                        Map.of("Authorization", "Bearer " + key, "Last-Event-ID", oldCursor))) {
                assertThat(sse.status()).isEqualTo(410);
                assertThat(sse.bodyJson().get("code").asText()).isEqualTo("resume_unavailable");
            }
            // new events still flow, and their cursors resume
            try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
                ws.subscribe("r", List.of("aging"));
                long fresh = CDC.insert("aging", "INSERT", "{\"fresh\":true}");
                assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(fresh);
            }
        }
    }

    @Test
    void nothingFromAnOpenTransactionOnIsDeletedUnderIt() throws Exception {
        try (CdcServer server = CDC.start(Map.of("cdc.outbox.retention-seconds", "1"))) {
            String key = Api.createKey(server, List.of("aging"));
            long before = CDC.insert("aging", "INSERT", "{\"before\":true}");
            try (WsTestClient ws = WsTestClient.authenticated(server, key); Connection open = CDC.begin()) {
                ws.subscribe("r", List.of("aging"));
                long pending = Outbox.insert(open, "aging", "INSERT", "{\"open\":true}");
                long after = CDC.insert("aging", "INSERT", "{\"after\":true}");
                assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(after);
                // a purge round has run once the row before the open transaction is gone
                await().atMost(Duration.ofSeconds(12)).until(() -> rows("id = " + before) == 0);
                assertThat(rows("id = " + after)).isEqualTo(1);
                open.commit();
                assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(pending);
            }
        }
    }

    private static int rows(String where) throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM cdc.outbox WHERE " + where)) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static int outboxRows() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM cdc.outbox")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
