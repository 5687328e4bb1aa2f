package io.cdcnotify.contract;

import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.contract.Contract.assertErrorBody;
import static io.cdcnotify.contract.Contract.fields;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Contract section 6, {@code GET /health} and {@code GET /v1/state}. Only one test here writes to the outbox,
 * and only one opens connections, so that the counts each watches are its own.
 */
class StateAndHealthTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB);
        key = Contract.key(server, List.of("*"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void healthIsUpForAnyoneWhenTheDatabaseAnswersAndTheListenerIsConnected() {
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            Api.Response r = Api.get(server.http("/health"), null);
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
            assertThat(r.json().get("status").asText()).isEqualTo("UP");
        });
    }

    /** Issue 12: UP or DOWN per check for anyone; disk and heap sizes only for an admin key. */
    @Test
    void observeHealthShowsDetailsOnlyToAnAdminKey() {
        for (String path : List.of("/observe/health", "/observe/health/live", "/observe/health/ready")) {
            for (String caller : java.util.Arrays.asList(null, key)) {
                Api.Response r = Api.get(server.http(path), caller);
                assertThat(r.status()).as(path).isIn(200, 503);
                JsonNode checks = r.json().get("checks");
                assertThat(checks.isArray() && !checks.isEmpty()).as("%s: %s", path, r.body()).isTrue();
                checks.forEach(c -> {
                    assertThat(fields(c)).as("%s for %s", c, caller == null ? "nobody" : "a key").isEqualTo(Set.of("name", "status"));
                    assertThat(c.get("status").asText()).isIn("UP", "DOWN");
                });
            }
        }
        Api.Response anonymous = Api.get(server.http("/observe/health"), null);
        assertThat(anonymous.body()).contains("diskSpace").contains("heapMemory").contains("listener")
                .doesNotContain("free").doesNotContain("total").doesNotContain("max");
        Api.Response admin = Api.get(server.http("/observe/health"), CdcServer.ADMIN_KEY);
        assertThat(admin.status()).isIn(200, 503);
        JsonNode disk = null;
        for (JsonNode c : admin.json().get("checks")) {
            if ("diskSpace".equals(c.get("name").asText())) {
                disk = c;
            }
        }
        assertThat(disk).as(admin.body()).isNotNull();
        assertThat(disk.path("data").path("free").isMissingNode()).as("disk details for the admin: %s", disk).isFalse();
    }

    @Test
    void stateHasExactlyTheContractShapeAndTypes() {
        Api.Response r = Api.get(server.http("/v1/state"), key);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        JsonNode s = r.json();
        assertThat(fields(s)).isEqualTo(Set.of("version", "listener", "connections", "subscriptions", "queued_events",
                                               "lag_ms", "fanout"));
        // issue 16: how events reach the instance; relay mode adds leader and stream position (fanout/RelayTest)
        assertThat(s.get("fanout").get("mode").asText()).isIn("database", "nats");
        assertThat(s.get("version").isTextual()).isTrue();
        assertThat(s.get("version").asText()).isNotEmpty();
        JsonNode listener = s.get("listener");
        assertThat(fields(listener)).isEqualTo(Set.of("connected", "last_event_id", "reconnects"));
        assertThat(listener.get("connected").isBoolean()).isTrue();
        assertThat(listener.get("last_event_id").isNull() || listener.get("last_event_id").isTextual()).isTrue();
        assertThat(listener.get("reconnects").isIntegralNumber()).isTrue();
        JsonNode connections = s.get("connections");
        assertThat(fields(connections)).isEqualTo(Set.of("websocket", "sse"));
        assertThat(connections.get("websocket").isIntegralNumber()).isTrue();
        assertThat(connections.get("sse").isIntegralNumber()).isTrue();
        assertThat(s.get("subscriptions").isIntegralNumber()).isTrue();
        assertThat(s.get("queued_events").isIntegralNumber()).isTrue();
        assertThat(s.get("lag_ms").isNumber()).isTrue();
    }

    @Test
    void anyValidKeyMayReadTheState() {
        String scoped = Contract.key(server, List.of("orders"));
        assertThat(Api.get(server.http("/v1/state"), scoped).status()).isEqualTo(200);
        assertThat(Api.get(server.http("/v1/state"), CdcServer.ADMIN_KEY).status()).isEqualTo(200);
    }

    @Test
    void stateWithoutAValidKeyIs401() {
        assertErrorBody(Api.get(server.http("/v1/state"), null), 401, "unauthorized");
        assertErrorBody(Api.get(server.http("/v1/state"), "cdc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 401,
                        "unauthorized");
    }

    @Test
    void lastEventIdIsNullBeforeTheFirstEventThenTheDecimalIdOfTheLastRowRead() throws Exception {
        JsonNode before = state().get("listener");
        assertThat(before.get("connected").asBoolean()).isTrue();
        assertThat(before.get("last_event_id").isNull()).as("before any event: %s", before).isTrue();
        Contract.createSubscription(server, key, List.of("state_orders"));
        int queuedBefore = state().get("queued_events").asInt();
        Outbox.insert(DB, "state_orders", "INSERT", "{}");
        long last = Outbox.insert(DB, "state_other", "INSERT", "{}");
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            JsonNode s = state();
            assertThat(s.get("listener").get("last_event_id").isTextual()).isTrue();
            assertThat(s.get("listener").get("last_event_id").asText()).isEqualTo(Long.toString(last));
            assertThat(s.get("queued_events").asInt()).isEqualTo(queuedBefore + 1);
        });
    }

    @Test
    void countsMoveWhenClientsConnectSubscribeAndLeave() {
        JsonNode before = state();
        int ws0 = before.get("connections").get("websocket").asInt();
        int sse0 = before.get("connections").get("sse").asInt();
        int subs0 = before.get("subscriptions").asInt();
        try (WsTestClient ws = WsTestClient.authenticated(server, key).closingCleanly()) {
            assertThat(state().get("connections").get("websocket").asInt()).isEqualTo(ws0 + 1);
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "tables", List.of("state_counts")));
            String sid = ws.expect("subscribed").get("subscription_id").asText();
            assertThat(state().get("subscriptions").asInt()).isEqualTo(subs0 + 1);
            try (SseTestClient sse = SseTestClient.subscribed(server, key, "state_counts")) {
                JsonNode during = state();
                assertThat(during.get("connections").get("sse").asInt()).isEqualTo(sse0 + 1);
                assertThat(during.get("connections").get("websocket").asInt()).isEqualTo(ws0 + 1);
                assertThat(during.get("subscriptions").asInt()).isEqualTo(subs0 + 2);
            }
            ws.send(Map.of("type", "unsubscribe", "request_id", "r2", "subscription_id", sid));
            ws.expect("unsubscribed");
        }
        await().atMost(Contract.WAIT).untilAsserted(
                () -> assertThat(state().get("connections").get("websocket").asInt()).isEqualTo(ws0));
    }

    private static JsonNode state() {
        Api.Response r = Api.get(server.http("/v1/state"), key);
        assertThat(r.status()).isEqualTo(200);
        return r.json();
    }
}
