package io.cdcnotify.contract;

import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.RawWsClient;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.contract.Contract.assertWsError;
import static io.cdcnotify.contract.Contract.fields;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Contract sections 4, 5 and 6, a key that stops working: {@code DELETE /v1/keys/{id}} closes its WebSockets
 * with 4403 and ends its SSE streams ({@code event: error}, code {@code unauthorized}) within 5 s and deletes
 * its subscriptions; an expiring key does the same within 5 s after {@code expires_at}, never before; a revoked
 * or expired key is refused like an unknown one (4401, HTTP 401).
 */
class KeyRevocationTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);


    @Test
    void deletingAKeyClosesItsOpenWebSocketsWith4403WithinFiveSeconds() throws Exception {
        JsonNode created = Contract.createKey(CDC.server(), Map.of("name", "doomed", "tables", List.of("orders")));
        String key = created.get("key").asText();
        String survivor = Contract.key(CDC.server(), List.of("orders"));
        try (WsTestClient byHeader = WsTestClient.authenticated(CDC.server(), key);
             WsTestClient byMessage = Contract.authenticatedByMessage(CDC.server(), key);
             WsTestClient other = WsTestClient.authenticated(CDC.server(), survivor)) {
            byHeader.subscribe("r1", List.of("orders"));
            assertThat(Api.delete(CDC.server().http("/v1/keys/" + created.get("id").asText()), CdcServer.ADMIN_KEY).status())
                    .isEqualTo(204);
            assertThat(byHeader.closeFuture().get(5, TimeUnit.SECONDS).code()).isEqualTo(4403);
            assertThat(byMessage.closeFuture().get(5, TimeUnit.SECONDS).code()).isEqualTo(4403);
            other.send(Map.of("type", "ping", "request_id", "alive"));
            assertThat(other.expect("pong").get("request_id").asText()).isEqualTo("alive");
        }
    }

    @Test
    void deletingAKeyEndsItsSseStreamsWithErrorUnauthorizedWithinFiveSeconds() {
        JsonNode created = Contract.createKey(CDC.server(), Map.of("name", "doomed", "tables", List.of("orders")));
        String key = created.get("key").asText();
        try (SseTestClient sse = SseTestClient.subscribed(CDC.server(), key, "orders")) {
            assertThat(Api.delete(CDC.server().http("/v1/keys/" + created.get("id").asText()), CdcServer.ADMIN_KEY).status())
                    .isEqualTo(204);
            SseTestClient.Event error = sse.next(FIVE_SECONDS);
            assertThat(error.event()).isEqualTo("error");
            assertThat(fields(error.json())).isEqualTo(Set.of("code", "message"));
            assertThat(error.json().get("code").asText()).isEqualTo("unauthorized");
            Contract.assertNoLeak(error.data(), key);
            sse.awaitEnd(FIVE_SECONDS);
        }
    }

    @Test
    void aRevokedKeyIsRefusedLikeAnUnknownOne() {
        JsonNode created = Contract.createKey(CDC.server(), Map.of("name", "doomed", "tables", List.of("orders")));
        String key = created.get("key").asText();
        assertThat(Api.get(CDC.server().http("/v1/state"), key).status()).isEqualTo(200);
        assertThat(Api.delete(CDC.server().http("/v1/keys/" + created.get("id").asText()), CdcServer.ADMIN_KEY).status())
                .isEqualTo(204);
        assertRefusedEverywhere(key);
    }

    @Test
    void deletingAKeyDeletesItsSubscriptions() {
        // a server of its own, so that its subscription count is this test's alone
        try (CdcServer own = CdcServer.start(DB)) {
            JsonNode created = Contract.createKey(own, Map.of("name", "doomed", "tables", List.of("orders")));
            String key = created.get("key").asText();
            Contract.createSubscription(own, key, List.of("orders"));
            try (WsTestClient ws = WsTestClient.authenticated(own, key)) {
                ws.subscribe("r1", List.of("orders"));
                assertThat(subscriptions(own)).isEqualTo(2);
                assertThat(Api.delete(own.http("/v1/keys/" + created.get("id").asText()), CdcServer.ADMIN_KEY).status())
                        .isEqualTo(204);
                await().atMost(FIVE_SECONDS).untilAsserted(() -> assertThat(subscriptions(own)).isZero());
            }
        }
    }

    @Test
    void anExpiringKeyClosesItsWebSocketsWith4403AndEndsItsSseStreamsWithinFiveSecondsAfterExpiresAtNeverBefore()
            throws Exception {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", "short-lived");
        body.put("tables", List.of("orders"));
        body.put("expires_at", Instant.now().plusSeconds(3).toString());
        JsonNode created = Contract.createKey(CDC.server(), body);
        String key = created.get("key").asText();
        Instant expiresAt = Instant.parse(created.get("expires_at").asText());
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), key);
             SseTestClient sse = SseTestClient.subscribed(CDC.server(), key, "orders")) {
            // the moment of the close, as a future of its own: a callback's side effect may land after get() returns
            java.util.concurrent.CompletableFuture<Instant> wsClosedAt = ws.closeFuture().thenApply(c -> Instant.now());
            SseTestClient.Event error = sse.next(Duration.ofSeconds(10));
            Instant sseErrorAt = Instant.now();
            WsTestClient.Close close = ws.closeFuture().get(10, TimeUnit.SECONDS);

            assertThat(close.code()).isEqualTo(4403);
            assertThat(wsClosedAt.get(10, TimeUnit.SECONDS)).isAfterOrEqualTo(expiresAt).isBeforeOrEqualTo(expiresAt.plus(FIVE_SECONDS));
            assertThat(error.event()).isEqualTo("error");
            assertThat(error.json().get("code").asText()).isEqualTo("unauthorized");
            assertThat(sseErrorAt).isAfterOrEqualTo(expiresAt).isBeforeOrEqualTo(expiresAt.plus(FIVE_SECONDS));
            sse.awaitEnd(FIVE_SECONDS);
        }
    }

    @Test
    void anExpiredKeyIsRefusedLikeAnUnknownOne() {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", "expired");
        body.put("tables", List.of("orders"));
        // two seconds ahead: on a busy machine the POST itself may take longer than one
        body.put("expires_at", Instant.now().plusSeconds(2).toString());
        String key = Contract.createKey(CDC.server(), body).get("key").asText();
        await().atMost(FIVE_SECONDS.plusSeconds(2)).until(() -> Api.get(CDC.server().http("/v1/state"), key).status() == 401);
        assertRefusedEverywhere(key);
    }

    private static void assertRefusedEverywhere(String key) {
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws"), Map.of("Authorization", "Bearer " + key))) {
            assertWsError(ws.next(), "unauthorized");
            assertThat(ws.closed().code()).isEqualTo(4401);
        }
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws?api_key=" + key))) {
            assertWsError(ws.next(), "unauthorized");
            assertThat(ws.closed().code()).isEqualTo(4401);
        }
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws"))) {
            ws.send(Map.of("type", "auth", "api_key", key));
            assertWsError(ws.next(), "unauthorized");
            assertThat(ws.closed().code()).isEqualTo(4401);
        }
        try (SseTestClient sse = SseTestClient.open(Contract.events(CDC.server(), "tables=orders"),
                                                    Map.of("Authorization", "Bearer " + key))) {
            assertThat(sse.status()).isEqualTo(401);
            assertThat(sse.bodyJson().get("code").asText()).isEqualTo("unauthorized");
        }
        Contract.assertErrorBody(Api.get(CDC.server().http("/v1/state"), key), 401, "unauthorized");
        Contract.assertErrorBody(Api.get(CDC.server().http("/v1/subscriptions"), key), 401, "unauthorized");
    }

    // ---- a peer that does not read: the cut reaches it anyway ----

    @Test
    void aRevokedKeysWebSocketThatDoesNotReadIsCutWithinFiveSeconds() throws Exception {
        try (CdcServer own = stuckServer()) {
            String t = Contract.table("stuck");
            JsonNode created = Contract.createKey(own, Map.of("name", "doomed", "tables", List.of(t)));
            try (RawWsClient stuck = RawWsClient.stuck(own, created.get("key").asText(), 4096);
                 WsTestClient witness = WsTestClient.authenticated(own, Contract.key(own, List.of(t)))) {
                stuck.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of(t)));
                witness.subscribe("w", List.of(t));
                fillTheSocketOf(own, witness, t);
                assertRevocationCuts(own, created, "websocket", stuck::closedByServer);
            }
        }
    }

    @Test
    void aRevokedKeysSseStreamThatDoesNotReadIsCutWithinFiveSeconds() throws Exception {
        try (CdcServer own = stuckServer()) {
            String t = Contract.table("stuck");
            JsonNode created = Contract.createKey(own, Map.of("name", "doomed", "tables", List.of(t)));
            try (SseTestClient stuck = SseTestClient.stuck(own, "/v1/events?tables=" + t, created.get("key").asText(), 4096);
                 WsTestClient witness = WsTestClient.authenticated(own, Contract.key(own, List.of(t)))) {
                witness.subscribe("w", List.of(t));
                fillTheSocketOf(own, witness, t);
                assertRevocationCuts(own, created, "sse", stuck::closedByServer);
            }
        }
    }

    /** A server whose connections may hold a lot, so that a peer that does not read is stuck, not slow. */
    private static CdcServer stuckServer() {
        return CdcServer.start(DB, Map.of("cdc.limits.client-buffer-bytes", Long.toString(256L << 20),
                                          "cdc.limits.client-buffer-events", "100000"));
    }

    /**
     * Writes far more than the socket buffers hold (about 20 MB) and waits until a reading client has it all:
     * by then the stuck client's writer is blocked in a write.
     */
    private static void fillTheSocketOf(CdcServer s, WsTestClient witness, String table) throws Exception {
        int events = 600;
        String payload = "{\"pad\":\"" + "x".repeat(32 * 1024) + "\"}";
        try (java.sql.Connection c = io.cdcnotify.testing.Outbox.begin(DB)) {
            for (int i = 0; i < events; i++) {
                io.cdcnotify.testing.Outbox.insert(c, table, "INSERT", payload);
            }
            c.commit();
        }
        assertThat(witness.events(events, Duration.ofSeconds(60))).hasSize(events);
    }

    private static void assertRevocationCuts(CdcServer s, JsonNode created, String transport,
                                             Predicate<Duration> closedByServer) {
        int before = connections(s, transport);
        long start = System.nanoTime();
        assertThat(Api.delete(s.http("/v1/keys/" + created.get("id").asText()), CdcServer.ADMIN_KEY).status())
                .isEqualTo(204);
        await().atMost(FIVE_SECONDS).pollInterval(Duration.ofMillis(50))
                .until(() -> connections(s, transport) == before - 1);
        long took = (System.nanoTime() - start) / 1_000_000;
        assertThat(took).as("ms from the revocation to the cut").isLessThanOrEqualTo(5_000);
        assertThat(closedByServer.test(Duration.ofSeconds(30))).as("the socket was closed by the server").isTrue();
    }

    private static int connections(CdcServer s, String transport) {
        return Api.get(s.http("/v1/state"), CdcServer.ADMIN_KEY).json().get("connections").get(transport).asInt();
    }

    private static int subscriptions(CdcServer s) {
        return Api.get(s.http("/v1/state"), CdcServer.ADMIN_KEY).json().get("subscriptions").asInt();
    }
}
