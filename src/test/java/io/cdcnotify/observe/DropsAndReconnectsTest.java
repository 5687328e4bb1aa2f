package io.cdcnotify.observe;

import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Listener;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.observe.MetricsEndpointTest.delta;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The meters of things going wrong: a slow consumer's dropped events, a detached durable subscription's
 * overflow, and the listener losing its connection.
 */
class DropsAndReconnectsTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int CLIENT_BUFFER = 40;
    private static final int QUEUE_MAX = 5;
    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.client-buffer-events", Integer.toString(CLIENT_BUFFER),
                                            "cdc.subscriptions.queue-max-events", Integer.toString(QUEUE_MAX)));
        key = Api.createKey(server, List.of("feed", "parked"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void aSlowConsumerCountsDroppedEventsAndItsError() throws Exception {
        Scrape before = Scrape.of(server);
        // an SSE stream made with tables ends with its stream: no detached queue to blur the count
        try (SseTestClient slow = SseTestClient.subscribed(server, key, "feed")) {
            slow.pause();
            String filler = "z".repeat(64 * 1024);
            try (Connection c = DB.connect()) {
                for (int i = 0; i < 300; i++) {
                    Outbox.insert(c, "feed", "INSERT", "{\"i\":" + i + ",\"filler\":\"" + filler + "\"}");
                }
            }
            // the stream is stuck in a write: live events past the buffer are dropped, and counted
            await().atMost(WAIT).untilAsserted(() -> assertThat(
                    delta(before, Scrape.of(server), "cdc_events_dropped_total", "reason", "slow_consumer")).isPositive());
            // read again: what was written, then the slow_consumer error, then the end
            slow.resume();
            SseTestClient.Event e = slow.next(WAIT);
            while (!"error".equals(e.event())) {
                e = slow.next(WAIT);
            }
            assertThat(e.json().get("code").asText()).isEqualTo("slow_consumer");
            slow.awaitEnd(WAIT);
        }
        Scrape after = Scrape.of(server);
        assertThat(delta(before, after, "cdc_client_errors_total", "code", "slow_consumer")).isEqualTo(1);
        assertThat(delta(before, after, "cdc_events_dropped_total", "reason", "queue_full")).isZero();
        await().atMost(WAIT).untilAsserted(() -> assertThat(
                Scrape.of(server).value("cdc_connections", "transport", "sse")).isZero());
    }

    @Test
    void aDetachedDurableSubscriptionThatOverflowsCountsQueueFull() throws Exception {
        Scrape before = Scrape.of(server);
        String subscription;
        try (WsTestClient ws = WsTestClient.authenticated(server, key).closingCleanly()) {
            subscription = ws.subscribe("r", List.of("parked")).get("subscription_id").asText();
        }
        // closed: the subscription is detached once the connection is gone
        await().atMost(WAIT).untilAsserted(() -> assertThat(
                Scrape.of(server).value("cdc_connections", "transport", "websocket")).isZero());
        assertThat(Scrape.of(server).value("cdc_subscriptions")).isGreaterThanOrEqualTo(1);

        int extra = 7;
        for (int i = 0; i < QUEUE_MAX + extra; i++) {
            Outbox.insert(DB, "parked", "INSERT", "{\"i\":" + i + "}");
        }
        await().atMost(WAIT).untilAsserted(() -> {
            Scrape now = Scrape.of(server);
            assertThat(delta(before, now, "cdc_events_dropped_total", "reason", "queue_full")).isEqualTo(extra);
            assertThat(now.value("cdc_queued_events") - before.value("cdc_queued_events")).isEqualTo(QUEUE_MAX);
        });
        assertThat(Api.get(server.http("/v1/subscriptions/" + subscription), key).json().get("dropped").asLong())
                .isEqualTo(extra);
        assertThat(Api.get(server.http("/v1/state"), key).json().get("queued_events").asLong())
                .isEqualTo((long) Scrape.of(server).value("cdc_queued_events"));
        // ending it frees its queue, and the gauge follows
        assertThat(Api.delete(server.http("/v1/subscriptions/" + subscription), key).status()).isEqualTo(204);
        await().atMost(WAIT).untilAsserted(() -> assertThat(Scrape.of(server).value("cdc_queued_events"))
                .isEqualTo(before.value("cdc_queued_events")));
    }

    @Test
    void aLostListenerConnectionCountsAReconnectAndComesBack() throws Exception {
        await().atMost(WAIT).untilAsserted(() -> assertThat(Scrape.of(server).value("cdc_listener_connected")).isEqualTo(1.0));
        double reconnects = Scrape.of(server).value("cdc_listener_reconnects_total");
        int pid = Listener.kill(DB);
        await().atMost(WAIT).untilAsserted(() -> {
            Scrape now = Scrape.of(server);
            assertThat(now.value("cdc_listener_reconnects_total")).isEqualTo(reconnects + 1);
            assertThat(now.value("cdc_listener_connected")).isEqualTo(1.0);
            assertThat(Listener.pid(DB)).isNotZero().isNotEqualTo(pid);
        });
        assertThat(Api.get(server.http("/v1/state"), key).json().get("listener").get("reconnects").asLong())
                .isEqualTo((long) reconnects + 1);
        assertThat(Api.get(server.http("/observe/health/ready"), null).status()).isEqualTo(200);
    }
}
