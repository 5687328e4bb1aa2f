package io.cdcnotify.observe;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code GET /metrics} (contract section 8): every meter from start-up, each label value present, counters at
 * zero; then counters, gauges and the lag histogram move as events flow, clients come and go and errors happen.
 * {@code GET /v1/state} tells the same story.
 */
class MetricsEndpointTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    static final Duration WAIT = Duration.ofSeconds(15);
    static final List<String> TRANSPORTS = List.of("websocket", "sse");
    static final List<String> REASONS = List.of("queue_full", "slow_consumer");
    static final List<String> CODES = List.of("unauthorized", "forbidden", "bad_request", "not_found", "limit_exceeded",
                                              "resume_unavailable", "slow_consumer", "internal");

    private static CdcServer server;
    private static Scrape atStart;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB);
        atStart = Scrape.of(server); // before any client, key or event
        key = Api.createKey(server, List.of("orders"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void everyMeterIsThereFromStartUpWithEveryLabelValueAndCountersAtZero() {
        Scrape s = atStart;
        assertThat(s.types()).containsEntry("cdc_events_received_total", "counter")
                .containsEntry("cdc_events_delivered_total", "counter")
                .containsEntry("cdc_events_dropped_total", "counter")
                .containsEntry("cdc_client_errors_total", "counter")
                .containsEntry("cdc_listener_reconnects_total", "counter")
                .containsEntry("cdc_delivery_lag_seconds", "histogram")
                .containsEntry("cdc_connections", "gauge")
                .containsEntry("cdc_subscriptions", "gauge")
                .containsEntry("cdc_queued_events", "gauge")
                .containsEntry("cdc_listener_connected", "gauge")
                .containsEntry("cdc_http_responses_total", "counter");

        assertThat(s.value("cdc_events_received_total")).isZero();
        for (String t : TRANSPORTS) {
            assertThat(s.value("cdc_events_delivered_total", "transport", t)).as(t).isZero();
            assertThat(s.value("cdc_connections", "transport", t)).as(t).isZero();
        }
        assertThat(s.all("cdc_events_delivered_total", Map.of())).hasSize(TRANSPORTS.size());
        for (String r : REASONS) {
            assertThat(s.value("cdc_events_dropped_total", "reason", r)).as(r).isZero();
        }
        assertThat(s.all("cdc_events_dropped_total", Map.of())).hasSize(REASONS.size());
        for (String c : CODES) {
            assertThat(s.value("cdc_client_errors_total", "code", c)).as(c).isZero();
        }
        assertThat(s.all("cdc_client_errors_total", Map.of())).hasSize(CODES.size());
        assertThat(s.value("cdc_listener_reconnects_total")).isZero();
        for (String c : List.of("1xx", "2xx", "3xx", "4xx", "5xx")) {
            assertThat(s.all("cdc_http_responses_total", Map.of("status", c))).as(c).hasSize(1);
        }
        assertThat(s.value("cdc_http_responses_total", "status", "5xx")).isZero();
        assertThat(s.value("cdc_subscriptions")).isZero();
        assertThat(s.value("cdc_queued_events")).isZero();
        assertThat(s.value("cdc_listener_connected")).isIn(0.0, 1.0);

        // the histogram: buckets from 1 ms to 10 s and +Inf, a sum and a count, all at zero
        List<String> bounds = s.all("cdc_delivery_lag_seconds_bucket", Map.of()).stream()
                .map(b -> b.labels().get("le")).toList();
        assertThat(bounds).first().satisfies(le -> assertThat(Double.parseDouble(le)).isEqualTo(0.001));
        assertThat(bounds).contains("10.0", "+Inf");
        assertThat(s.all("cdc_delivery_lag_seconds_bucket", Map.of())).allSatisfy(b -> assertThat(b.value()).isZero());
        assertThat(s.value("cdc_delivery_lag_seconds_count")).isZero();
        assertThat(s.value("cdc_delivery_lag_seconds_sum")).isZero();

        // JVM and process meters
        assertThat(s.value("memory_usedHeap_bytes")).isPositive();
        assertThat(s.value("thread_count")).isPositive();
        assertThat(s.value("jvm_uptime_seconds")).isPositive();
        assertThat(s.value("process_start_time_seconds")).isPositive();
        assertThat(s.value("process_open_fds")).isPositive();
        assertThat(s.all("process_cpu_usage", Map.of())).hasSize(1);
    }

    @Test
    void theListenerIsConnectedAndHealthSaysSo() {
        await().atMost(WAIT).untilAsserted(() -> assertThat(Scrape.of(server).value("cdc_listener_connected")).isEqualTo(1.0));
        Api.Response health = Api.get(server.http("/observe/health"), null);
        assertThat(health.status()).isEqualTo(200);
        assertThat(health.json().get("status").asText()).isEqualTo("UP");
        assertThat(health.json().get("checks")).extracting(c -> c.get("name").asText())
                .contains("process", "database", "listener");
        Api.Response ready = Api.get(server.http("/observe/health/ready"), null);
        assertThat(ready.status()).isEqualTo(200);
        assertThat(ready.json().get("checks")).extracting(c -> c.get("name").asText())
                .containsExactlyInAnyOrder("database", "listener");
        Api.Response live = Api.get(server.http("/observe/health/live"), null);
        assertThat(live.status()).isEqualTo(200);
        assertThat(live.json().get("checks")).extracting(c -> c.get("name").asText()).contains("process")
                .doesNotContain("database", "listener");
    }

    @Test
    void eventsCountAsReceivedAndDeliveredPerTransportAndFeedTheLagHistogram() throws Exception {
        int n = 25;
        try (WsTestClient ws = WsTestClient.authenticated(server, key).closingCleanly();
             SseTestClient sse = SseTestClient.subscribed(server, key, "orders")) {
            ws.subscribe("r1", List.of("orders"));
            // once a marker has reached both clients and shows in the delivered counters (deliveries reach the
            // meters about once a second, the lag before the counters), whatever earlier tests wrote is counted
            Scrape start = Scrape.of(server);
            Outbox.insert(DB, "orders", "INSERT", "{\"marker\":true}");
            ws.events(1, WAIT);
            sse.events(1, WAIT);
            await().atMost(WAIT).untilAsserted(() -> {
                Scrape now = Scrape.of(server);
                assertThat(delta(start, now, "cdc_events_delivered_total", "transport", "websocket")).isPositive();
                assertThat(delta(start, now, "cdc_events_delivered_total", "transport", "sse")).isPositive();
            });
            Scrape before = Scrape.of(server);
            List<Long> ids = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                ids.add(Outbox.insert(DB, "orders", "INSERT", "{\"n\":" + i + "}"));
            }
            assertThat(ws.events(n, WAIT)).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(ids);
            assertThat(sse.events(n, WAIT)).hasSize(n);

            await().atMost(WAIT).untilAsserted(() -> {
                Scrape now = Scrape.of(server);
                assertThat(now.value("cdc_events_received_total") - before.value("cdc_events_received_total"))
                        .isEqualTo(n);
                assertThat(delta(before, now, "cdc_events_delivered_total", "transport", "websocket")).isEqualTo(n);
                assertThat(delta(before, now, "cdc_events_delivered_total", "transport", "sse")).isEqualTo(n);
                assertThat(now.value("cdc_delivery_lag_seconds_count") - before.value("cdc_delivery_lag_seconds_count"))
                        .isEqualTo(2 * n);
            });
            Scrape after = Scrape.of(server);
            double count = after.value("cdc_delivery_lag_seconds_count");
            // seconds, not micro- or milliseconds: every lag here is far below 10 s, and none is negative
            assertThat(after.value("cdc_delivery_lag_seconds_bucket", "le", "10.0")).isEqualTo(count);
            assertThat(after.value("cdc_delivery_lag_seconds_bucket", "le", "+Inf")).isEqualTo(count);
            assertThat(after.value("cdc_delivery_lag_seconds_sum")).isPositive().isLessThan(count * 10);
            // cumulative buckets never decrease
            List<Double> buckets = after.all("cdc_delivery_lag_seconds_bucket", Map.of()).stream()
                    .map(Scrape.Sample::value).toList();
            assertThat(buckets).isSorted();
        }
    }

    @Test
    void connectionGaugesFollowClientsThatComeAndGoAndStateAgrees() throws Exception {
        // streams this class closed earlier are noticed at the server's next write to them; these tests close
        // their WebSockets with a close frame, so their count is exact at once
        closedStreamsNoticed();
        Scrape before = Scrape.of(server);
        double ws0 = before.value("cdc_connections", "transport", "websocket");
        double sse0 = 0;
        WsTestClient ws1 = WsTestClient.authenticated(server, key).closingCleanly();
        WsTestClient ws2 = WsTestClient.authenticated(server, key).closingCleanly();
        SseTestClient sse = SseTestClient.subscribed(server, key, "orders");
        try {
            await().atMost(WAIT).untilAsserted(() -> {
                Scrape now = Scrape.of(server);
                assertThat(now.value("cdc_connections", "transport", "websocket")).isEqualTo(ws0 + 2);
                assertThat(now.value("cdc_connections", "transport", "sse")).isEqualTo(sse0 + 1);
            });
            JsonNode state = Api.get(server.http("/v1/state"), key).json();
            assertThat(state.get("connections").get("websocket").asInt()).isEqualTo((int) ws0 + 2);
            assertThat(state.get("connections").get("sse").asInt()).isEqualTo((int) sse0 + 1);
            assertThat(state.get("subscriptions").asLong())
                    .isEqualTo((long) Scrape.of(server).value("cdc_subscriptions"));
        } finally {
            ws1.close();
            ws2.close();
            sse.close();
        }
        await().atMost(WAIT).untilAsserted(() -> assertThat(
                Scrape.of(server).value("cdc_connections", "transport", "websocket")).isEqualTo(ws0));
        closedStreamsNoticed();
        assertThat(Scrape.of(server).value("cdc_connections", "transport", "websocket")).isEqualTo(ws0);
    }

    /** A closed SSE stream is noticed when the server next writes to it: gives every stream something to write. */
    private static void closedStreamsNoticed() {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
            Outbox.insert(DB, "orders", "INSERT", "{\"nudge\":true}");
            assertThat(Scrape.of(server).value("cdc_connections", "transport", "sse")).isZero();
        });
    }

    @Test
    void clientErrorsAreCountedByCode() {
        Scrape before = Scrape.of(server);
        try (WsTestClient ws = WsTestClient.authenticated(server, key).closingCleanly()) {
            ws.send("{not json");
            assertThat(ws.expect("error").get("code").asText()).isEqualTo("bad_request");
            ws.send("{\"type\":\"subscribe\",\"request_id\":\"r\",\"tables\":[\"secret\"]}");
            assertThat(ws.expect("error").get("code").asText()).isEqualTo("forbidden");
        }
        try (WsTestClient bad = WsTestClient.connect(server.ws("/v1/ws"),
                                                     Map.of("Authorization", "Bearer cdc_" + "x".repeat(43)))) {
            assertThat(bad.expect("error").get("code").asText()).isEqualTo("unauthorized");
            assertThat(bad.closed().code()).isEqualTo(4401);
        }
        await().atMost(WAIT).untilAsserted(() -> {
            Scrape now = Scrape.of(server);
            assertThat(delta(before, now, "cdc_client_errors_total", "code", "bad_request")).isEqualTo(1);
            assertThat(delta(before, now, "cdc_client_errors_total", "code", "forbidden")).isEqualTo(1);
            assertThat(delta(before, now, "cdc_client_errors_total", "code", "unauthorized")).isEqualTo(1);
            assertThat(delta(before, now, "cdc_client_errors_total", "code", "internal")).isZero();
        });
    }

    @Test
    void httpResponsesAreCountedByStatusClass() {
        Scrape before = Scrape.of(server);
        assertThat(Api.get(server.http("/observe/health/live"), null).status()).isEqualTo(200);
        assertThat(Api.get(server.http("/no/such/thing"), null).status()).isEqualTo(404);
        assertThat(Api.get(server.http("/v1/state"), null).status()).isEqualTo(401);
        // a response counts once written, the scrape before this one too; a scrape does not see itself
        await().atMost(WAIT).untilAsserted(() -> {
            Scrape after = Scrape.of(server);
            assertThat(delta(before, after, "cdc_http_responses_total", "status", "4xx")).isEqualTo(2);
            assertThat(delta(before, after, "cdc_http_responses_total", "status", "5xx")).isZero();
            assertThat(delta(before, after, "cdc_http_responses_total", "status", "2xx")).isGreaterThanOrEqualTo(2);
        });
    }

    @Test
    void anSseStreamCountsAsOneTwoXxWhenItEnds() {
        Scrape before = Scrape.of(server);
        Scrape open;
        try (SseTestClient sse = SseTestClient.subscribed(server, key, "orders")) {
            assertThat(sse.status()).isEqualTo(200);
            open = Scrape.of(server);
            // only the scrape before: an open stream has not counted yet
            assertThat(delta(before, open, "cdc_http_responses_total", "status", "2xx")).isEqualTo(1);
        }
        int[] earlier = {0}; // scrapes since "open" that the next one counts
        await().atMost(WAIT).untilAsserted(() -> {
            Scrape now = Scrape.of(server);
            int seen = 1 + earlier[0]++; // "open" and the earlier ones in this loop
            // then the stream, once it has ended: exactly once
            assertThat(delta(open, now, "cdc_http_responses_total", "status", "2xx")).isEqualTo(seen + 1);
        });
    }

    @Test
    void anSseStreamTheServerEndsCountsOnceToo() {
        Api.Response created = Api.postJson(server.http("/v1/subscriptions"), key, Map.of("tables", List.of("orders")));
        assertThat(created.status()).isEqualTo(201);
        String sid = created.json().get("id").asText();
        Scrape before = Scrape.of(server);
        try (SseTestClient sse = SseTestClient.open(server.http("/v1/events?subscription_id=" + sid),
                                                    Map.of("Authorization", "Bearer " + key))) {
            sse.expect("subscribed");
            assertThat(Api.delete(server.http("/v1/subscriptions/" + sid), key).status()).isEqualTo(204);
            sse.expect("error");
            sse.awaitEnd(WAIT); // the writer ended it: Helidon saw it sent
        }
        Scrape.of(server); // "mid"
        int[] earlier = {0};
        await().atMost(WAIT).untilAsserted(() -> {
            Scrape now = Scrape.of(server);
            int seen = 1 + earlier[0]++; // "mid" and the earlier ones in this loop
            // and the scrape "before", the DELETE's 204 and the stream: exactly once, not by Helidon and by us
            assertThat(delta(before, now, "cdc_http_responses_total", "status", "2xx")).isEqualTo(seen + 3);
        });
    }

    @Test
    void stateHasTheContractFieldsWithTheirTypes() throws Exception {
        long last = Outbox.insert(DB, "elsewhere", "INSERT", "{}");
        await().atMost(WAIT).untilAsserted(() -> assertThat(
                Api.get(server.http("/v1/state"), key).json().get("listener").get("last_event_id").asText())
                .isEqualTo(Long.toString(last)));
        Api.Response r = Api.get(server.http("/v1/state"), key);
        assertThat(r.status()).isEqualTo(200);
        JsonNode state = r.json();
        assertThat(state.get("version").isTextual()).isTrue();
        JsonNode listener = state.get("listener");
        assertThat(listener.get("connected").isBoolean()).isTrue();
        assertThat(listener.get("connected").asBoolean()).isTrue();
        assertThat(listener.get("last_event_id").isTextual()).isTrue();
        assertThat(listener.get("reconnects").isIntegralNumber()).isTrue();
        assertThat(state.get("connections").get("websocket").isIntegralNumber()).isTrue();
        assertThat(state.get("connections").get("sse").isIntegralNumber()).isTrue();
        assertThat(state.get("subscriptions").isIntegralNumber()).isTrue();
        assertThat(state.get("queued_events").isIntegralNumber()).isTrue();
        assertThat(state.get("lag_ms").isNumber()).isTrue();
        assertThat(listener.get("reconnects").asLong())
                .isEqualTo((long) Scrape.of(server).value("cdc_listener_reconnects_total"));

        assertThat(Api.get(server.http("/v1/state"), null).status()).isEqualTo(401);
    }

    static double delta(Scrape before, Scrape now, String name, String label, String value) {
        return now.value(name, label, value) - before.value(name, label, value);
    }
}
