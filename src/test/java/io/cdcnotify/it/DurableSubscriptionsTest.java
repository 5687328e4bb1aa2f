package io.cdcnotify.it;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Durable subscriptions: the in-memory queue while detached, its bounds, and resume from the outbox. */
class DurableSubscriptionsTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer().withKey("queued", "bulk");
    private static final TestDatabase DB = CDC.db();

    @Test
    void eventsQueuedWhileDetachedArriveInOrderOnReattachOverEitherTransport() throws Exception {
        String id = Api.postJson(CDC.server().http("/v1/subscriptions"), CDC.key(), Map.of("tables", List.of("queued")))
                .json().get("id").asText();
        long a = CDC.insert("queued", "INSERT", "{\"n\":1}");
        long b = CDC.insert("queued", "INSERT", "{\"n\":2}");
        await().atMost(Duration.ofSeconds(10)).until(() -> status(id).get("queued").asInt() == 2);
        try (WsTestClient ws = CDC.ws()) {
            ws.send(Map.of("type", "subscribe", "request_id", "r", "subscription_id", id));
            assertThat(ws.expect("subscribed").get("tables").get(0).asText()).isEqualTo("queued");
            assertThat(ws.events(2, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong()).containsExactly(a, b);
            assertThat(status(id).get("attached").asBoolean()).isTrue();
            assertThat(status(id).get("expires_at").isNull()).isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !status(id).get("attached").asBoolean());
        long c = CDC.insert("queued", "UPDATE", "{\"n\":3}");
        long d = CDC.insert("queued", "DELETE", "{\"n\":4}");
        await().atMost(Duration.ofSeconds(10)).until(() -> status(id).get("queued").asInt() == 2);
        assertThat(status(id).get("expires_at").isTextual()).isTrue();
        try (SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?subscription_id=" + id),
                                                    Map.of("Authorization", "Bearer " + CDC.key()))) {
            assertThat(sse.expect("subscribed").json().get("subscription_id").asText()).isEqualTo(id);
            assertThat(sse.events(2, Duration.ofSeconds(10))).extracting(e -> e.json().get("id").asLong())
                    .containsExactly(c, d);
        }
    }

    @Test
    void aFullQueueDropsTheOldestAndACursorStillRecoversEverything() throws Exception {
        String id;
        String cursor;
        try (WsTestClient ws = CDC.ws()) {
            id = ws.subscribe("r", List.of("bulk")).get("subscription_id").asText();
            CDC.insert("bulk", "INSERT", "{\"before\":true}");
            cursor = ws.events(1, Duration.ofSeconds(10)).getFirst().get("cursor").asText();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !status(id).get("attached").asBoolean());
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("INSERT INTO cdc.outbox (table_name, operation, payload) "
                               + "SELECT 'bulk', 'INSERT', jsonb_build_object('n', n) FROM generate_series(1, 10050) n");
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> status(id).get("dropped").asInt() == 50);
        JsonNode status = status(id);
        assertThat(status.get("queued").asInt()).isEqualTo(10_000);

        // re-attaching without a cursor delivers what waited: the newest 10,000, in order
        try (WsTestClient ws = CDC.ws()) {
            ws.send(Map.of("type", "subscribe", "request_id", "q", "subscription_id", id));
            ws.expect("subscribed");
            List<JsonNode> queued = ws.events(10_000, Duration.ofSeconds(60));
            assertThat(queued.getFirst().get("payload").get("n").asInt()).isEqualTo(51);
            assertThat(queued.getLast().get("payload").get("n").asInt()).isEqualTo(10_050);
        }
        // a cursor recovers all 10,050 from the outbox
        try (WsTestClient ws = CDC.ws()) {
            ws.send(Map.of("type", "subscribe", "request_id", "c", "subscription_id", id, "resume_from", cursor));
            ws.expect("subscribed");
            List<JsonNode> all = ws.events(10_050, Duration.ofSeconds(60));
            for (int i = 0; i < all.size(); i++) {
                assertThat(all.get(i).get("payload").get("n").asInt()).isEqualTo(i + 1);
            }
        }
    }

    private static JsonNode status(String id) {
        Api.Response r = Api.get(CDC.server().http("/v1/subscriptions/" + id), CDC.key());
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return r.json();
    }
}
