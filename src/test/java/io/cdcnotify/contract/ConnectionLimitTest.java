package io.cdcnotify.contract;

import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.contract.Contract.assertWsError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Contract sections 1, 4 and 5, {@code cdc.limits.max-connections-per-key} (here 2): WebSocket and SSE
 * connections of one key count together; past the limit a WebSocket gets {@code limit_exceeded} (no
 * {@code auth_ok}) then close 4429, an SSE request HTTP 429. Each test uses keys of its own.
 */
class ConnectionLimitTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static CdcServer server;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.max-connections-per-key", "2"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void aWebSocketPastTheLimitGetsLimitExceededInsteadOfAuthOkThenClose4429() {
        String key = Contract.key(server, List.of("orders"));
        try (WsTestClient a = WsTestClient.authenticated(server, key);
             WsTestClient b = WsTestClient.authenticated(server, key);
             WsTestClient c = WsTestClient.connect(server.ws("/v1/ws"), Map.of("Authorization", "Bearer " + key))) {
            JsonNode first = c.next();
            assertWsError(first, "limit_exceeded");
            assertThat(c.closed().code()).isEqualTo(4429);
            assertThat(c.drain()).noneMatch(m -> "auth_ok".equals(m.path("type").asText()));
            // the two within the limit are untouched
            a.send(Map.of("type", "ping", "request_id", "a"));
            assertThat(a.expect("pong").get("request_id").asText()).isEqualTo("a");
        }
    }

    @Test
    void aWebSocketAuthenticatingByMessagePastTheLimitGetsLimitExceededThenClose4429() {
        String key = Contract.key(server, List.of("orders"));
        try (WsTestClient a = WsTestClient.authenticated(server, key);
             WsTestClient b = WsTestClient.authenticated(server, key);
             WsTestClient c = WsTestClient.connect(server.ws("/v1/ws"))) {
            c.send(Map.of("type", "auth", "api_key", key));
            assertWsError(c.next(), "limit_exceeded");
            assertThat(c.closed().code()).isEqualTo(4429);
        }
    }

    @Test
    void anSseStreamPastTheLimitGets429() {
        String key = Contract.key(server, List.of("orders"));
        try (SseTestClient a = SseTestClient.subscribed(server, key, "orders");
             SseTestClient b = SseTestClient.subscribed(server, key, "orders");
             SseTestClient c = SseTestClient.open(Contract.events(server, "tables=orders"),
                                                  Map.of("Authorization", "Bearer " + key))) {
            assertThat(c.status()).isEqualTo(429);
            assertThat(Contract.fields(c.bodyJson())).containsExactlyInAnyOrder("code", "message");
            assertThat(c.bodyJson().get("code").asText()).isEqualTo("limit_exceeded");
            assertThat(c.header("Content-Type")).startsWith("application/json");
        }
    }

    @Test
    void webSocketAndSseConnectionsOfAKeyCountTogether() {
        String key = Contract.key(server, List.of("orders"));
        try (WsTestClient ws = WsTestClient.authenticated(server, key);
             SseTestClient sse = SseTestClient.subscribed(server, key, "orders");
             WsTestClient third = WsTestClient.connect(server.ws("/v1/ws"), Map.of("Authorization", "Bearer " + key));
             SseTestClient fourth = SseTestClient.open(Contract.events(server, "tables=orders"),
                                                       Map.of("Authorization", "Bearer " + key))) {
            assertWsError(third.next(), "limit_exceeded");
            assertThat(third.closed().code()).isEqualTo(4429);
            assertThat(fourth.status()).isEqualTo(429);
        }
    }

    @Test
    void theLimitIsPerKey() {
        String key = Contract.key(server, List.of("orders"));
        String other = Contract.key(server, List.of("orders"));
        try (WsTestClient a = WsTestClient.authenticated(server, key);
             WsTestClient b = WsTestClient.authenticated(server, key);
             WsTestClient c = WsTestClient.authenticated(server, other)) {
            c.send(Map.of("type", "ping", "request_id", "c"));
            assertThat(c.expect("pong").get("request_id").asText()).isEqualTo("c");
        }
    }

    @Test
    void aClosedConnectionFreesItsPlace() {
        String key = Contract.key(server, List.of("orders"));
        try (WsTestClient a = WsTestClient.authenticated(server, key)) {
            WsTestClient b = WsTestClient.authenticated(server, key);
            b.closeCleanly();
            await().atMost(Contract.WAIT).untilAsserted(() -> {
                try (WsTestClient c = WsTestClient.connect(server.ws("/v1/ws"),
                                                           Map.of("Authorization", "Bearer " + key))) {
                    assertThat(c.next().path("type").asText()).isEqualTo("auth_ok");
                }
            });
        }
    }
}
