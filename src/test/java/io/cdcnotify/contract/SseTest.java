package io.cdcnotify.contract;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.LogCapture;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static io.cdcnotify.contract.Contract.fields;
import static io.cdcnotify.contract.Contract.table;
import static io.cdcnotify.contract.Contract.texts;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 5, {@code GET /v1/events}: authentication, the query, the framing on the wire, resume,
 * durable subscriptions, keepalive, and every error before the stream opens.
 */
class SseTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SUBSCRIBED = Pattern.compile("^retry: 2000\nevent: subscribed\ndata: ([^\n]*)\n\n");
    private static final Pattern EVENT = Pattern.compile("\\Gid: ([^\n]*)\nevent: cdc_event\ndata: ([^\n]*)\n\n");

    private static CdcServer server;
    private static String all;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB);
        all = Contract.key(server, List.of("*"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void aStreamIsHttp200WithContentTypeTextEventStream() {
        try (SseTestClient sse = SseTestClient.open(server, "/v1/events?tables=" + table("orders"), bearer(all))) {
            assertThat(sse.status()).isEqualTo(200);
            assertThat(sse.header("Content-Type")).startsWith("text/event-stream");
        }
    }

    @Test
    void theFirstMessageIsExactlyRetryThenSubscribedWithTheSubscriptionOnOneDataLine() throws Exception {
        String a = table("orders");
        String b = table("customers");
        try (SseTestClient sse = SseTestClient.open(server, "/v1/events?tables=" + a + "," + b, bearer(all))) {
            String text = sse.await(t -> SUBSCRIBED.matcher(t).find(), Contract.WAIT, "the subscribed message");
            Matcher m = SUBSCRIBED.matcher(text);
            assertThat(m.find()).isTrue();
            JsonNode data = JSON.readTree(m.group(1));
            assertThat(fields(data)).isEqualTo(Set.of("subscription_id", "tables"));
            assertThat(data.get("subscription_id").asText()).matches("s-\\S+");
            assertThat(texts(data.get("tables"))).containsExactlyInAnyOrder(a, b);
        }
    }

    @Test
    void eachEventIsIdCursorEventCdcEventAndTheEventJsonOnOneDataLine() throws Exception {
        String t = table("orders");
        try (SseTestClient sse = SseTestClient.open(server, "/v1/events?tables=" + t, bearer(all))) {
            String head = sse.await(x -> SUBSCRIBED.matcher(x).find(), Contract.WAIT, "the subscribed message");
            int from = head.length();
            long id = Outbox.insert(DB, t, "INSERT", "{\"note\": \"two\\nlines\", \"n\": 1}");
            String text = sse.await(x -> EVENT.matcher(x).region(from, x.length()).find(), Contract.WAIT, "an event");
            Matcher m = EVENT.matcher(text).region(from, text.length());
            assertThat(m.find()).isTrue();
            JsonNode event = JSON.readTree(m.group(2));
            assertThat(fields(event)).isEqualTo(Set.of("id", "cursor", "table", "operation", "payload", "created_at"));
            assertThat(event.get("id").asText()).isEqualTo(Long.toString(id));
            assertThat(event.get("cursor").asText()).isEqualTo(m.group(1));
            assertThat(event.get("table").asText()).isEqualTo(t);
            assertThat(event.get("operation").asText()).isEqualTo("INSERT");
            assertThat(event.get("payload")).isEqualTo(JSON.readTree("{\"note\": \"two\\nlines\", \"n\": 1}"));
            assertThat(event.get("created_at").asText()).matches(Contract.EVENT_TIMESTAMP);
            assertThat(text).doesNotContain("\r");
        }
    }

    @Test
    void theKeyMayComeInTheApiKeyQuery() throws Exception {
        String t = table("orders");
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=" + t + "&api_key=" + all))) {
            assertThat(sse.status()).isEqualTo(200);
            assertThat(texts(sse.expect("subscribed").json().get("tables"))).containsExactly(t);
            long id = Outbox.insert(DB, t, "INSERT", "{}");
            assertThat(sse.events(1, Contract.WAIT).getFirst().json().get("id").asLong()).isEqualTo(id);
        }
    }

    @Test
    void aPercentEncodedCommaSeparatesTables() throws Exception {
        String a = table("orders");
        String b = table("customers");
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=" + a + "%2C" + b), bearer(all))) {
            assertThat(sse.status()).isEqualTo(200);
            assertThat(texts(sse.expect("subscribed").json().get("tables"))).containsExactlyInAnyOrder(a, b);
            long first = Outbox.insert(DB, a, "INSERT", "{}");
            long second = Outbox.insert(DB, b, "INSERT", "{}");
            assertThat(sse.events(2, Contract.WAIT)).extracting(e -> e.json().get("id").asLong())
                    .containsExactly(first, second);
        }
    }

    static Stream<Arguments> badQueries() {
        return Stream.of(Arguments.of("neither tables nor subscription_id", ""),
                         Arguments.of("both tables and subscription_id", "tables=orders&subscription_id=s-1"),
                         Arguments.of("an empty tables list", "tables="),
                         Arguments.of("only a comma", "tables=,"),
                         Arguments.of("an empty name in the list", "tables=orders,,customers"),
                         Arguments.of("a name with a space", "tables=my%20orders"),
                         Arguments.of("a name with a dash", "tables=my-orders"),
                         Arguments.of("a name of 129 characters", "tables=" + "a".repeat(129)),
                         Arguments.of("an empty subscription_id and tables", "tables=orders&subscription_id="));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badQueries")
    void aBadQueryIs400BadRequest(String what, String query) {
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, query), bearer(all))) {
            assertRefused(sse, 400, "bad_request");
        }
    }

    @Test
    void anUnknownKeyIs401() {
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=orders"),
                                                    bearer("cdc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))) {
            assertRefused(sse, 401, "unauthorized");
        }
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=orders&api_key=nope"))) {
            assertRefused(sse, 401, "unauthorized");
        }
    }

    @Test
    void noKeyIs401() {
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=orders"))) {
            assertRefused(sse, 401, "unauthorized");
        }
    }

    @Test
    void aTableOutsideTheKeysScopeIs403() {
        String mine = table("orders");
        String scoped = Contract.key(server, List.of(mine));
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=" + mine + "," + table("secret")),
                                                    bearer(scoped))) {
            assertRefused(sse, 403, "forbidden");
        }
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=*"), bearer(scoped))) {
            assertRefused(sse, 403, "forbidden");
        }
    }

    @Test
    void anUnknownSubscriptionIdIs404() {
        for (String id : List.of("s-0000000000000000", "nonsense")) {
            try (SseTestClient sse = SseTestClient.open(Contract.events(server, "subscription_id=" + id), bearer(all))) {
                assertRefused(sse, 404, "not_found");
            }
        }
    }

    @Test
    void anotherKeysSubscriptionIdIs404() {
        String theirs = Contract.createSubscription(server, all, List.of(table("orders")));
        String other = Contract.key(server, List.of("*"));
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "subscription_id=" + theirs), bearer(other))) {
            assertRefused(sse, 404, "not_found");
        }
    }

    @Test
    void aLastEventIdHeaderThatIsNotACursorIs400() {
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=orders"),
                                                    Map.of("Authorization", "Bearer " + all,
                                                           "Last-Event-ID", "12345"))) {
            assertRefused(sse, 400, "bad_request");
        }
    }

    @Test
    void aLastEventIdQueryThatIsNotACursorIs400() {
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=orders&last_event_id=abc"),
                                                    bearer(all))) {
            assertRefused(sse, 400, "bad_request");
        }
    }

    @Test
    void theLastEventIdHeaderResumesAfterThatEvent() throws Exception {
        String t = table("orders");
        Resume r = eventsWithCursors(t);
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=" + t),
                                                    Map.of("Authorization", "Bearer " + all,
                                                           "Last-Event-ID", r.firstCursor))) {
            assertResumed(sse, t, r);
        }
    }

    @Test
    void theLastEventIdQueryResumesAfterThatEvent() throws Exception {
        String t = table("orders");
        Resume r = eventsWithCursors(t);
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=" + t + "&last_event_id="
                + java.net.URLEncoder.encode(r.firstCursor, java.nio.charset.StandardCharsets.UTF_8)), bearer(all))) {
            assertResumed(sse, t, r);
        }
    }

    @Test
    void subscriptionIdAttachesTheDurableSubscription() throws Exception {
        String a = table("orders");
        String b = table("customers");
        String sid = Contract.createSubscription(server, all, List.of(a, b));
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "subscription_id=" + sid), bearer(all))) {
            assertThat(sse.status()).isEqualTo(200);
            JsonNode data = sse.expect("subscribed").json();
            assertThat(data.get("subscription_id").asText()).isEqualTo(sid);
            assertThat(texts(data.get("tables"))).containsExactlyInAnyOrder(a, b);
            long id = Outbox.insert(DB, b, "UPDATE", "{}");
            assertThat(sse.events(1, Contract.WAIT).getFirst().json().get("id").asLong()).isEqualTo(id);
        }
    }

    /**
     * A client that closes its stream is noticed at once, not at the next failed write: within a second its
     * connection is gone, and its durable subscription queues what comes next for it instead of writing it to
     * a dead socket.
     */
    @Test
    void aClosedStreamIsNoticedWithinASecond() throws Exception {
        String t = table("orders");
        String sid = Contract.createSubscription(server, all, List.of(t));
        int before = sseConnections();
        SseTestClient sse = SseTestClient.stuck(server, "/v1/events?subscription_id=" + sid, all, 0);
        org.awaitility.Awaitility.await().atMost(Contract.WAIT).until(() -> sseConnections() == before + 1);

        sse.close();
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(20))
                .until(() -> sseConnections() == before);
        Outbox.insert(DB, t, "INSERT", "{}");
        org.awaitility.Awaitility.await().atMost(Contract.WAIT).untilAsserted(() -> assertThat(
                Api.get(server.http("/v1/subscriptions/" + sid), all).json().get("queued").asInt())
                .as("the event waits in the queue").isEqualTo(1));
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> assertThat(
                Api.get(server.http("/v1/subscriptions/" + sid), all).json().get("attached").asBoolean()).isFalse());
    }

    private static int sseConnections() {
        return Api.get(server.http("/v1/state"), CdcServer.ADMIN_KEY).json().get("connections").get("sse").asInt();
    }

    @Test
    void aStreamOpenedWithTablesMakesNoDurableSubscription() {
        String t = table("orders");
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "tables=" + t), bearer(all))) {
            String sid = sse.expect("subscribed").json().get("subscription_id").asText();
            assertThat(Api.get(server.http("/v1/subscriptions/" + sid), all).status()).isEqualTo(404);
            assertThat(texts(idsOf(Api.get(server.http("/v1/subscriptions"), all).json()))).doesNotContain(sid);
        }
    }

    @Test
    void deletingItsSubscriptionSendsErrorNotFoundThenEndsTheStream() {
        String sid = Contract.createSubscription(server, all, List.of(table("orders")));
        try (SseTestClient sse = SseTestClient.open(Contract.events(server, "subscription_id=" + sid), bearer(all))) {
            sse.expect("subscribed");
            assertThat(Api.delete(server.http("/v1/subscriptions/" + sid), all).status()).isEqualTo(204);
            SseTestClient.Event error = sse.expect("error");
            assertThat(fields(error.json())).isEqualTo(Set.of("code", "message"));
            assertThat(error.json().get("code").asText()).isEqualTo("not_found");
            sse.awaitEnd(Duration.ofSeconds(5));
        }
    }

    @Test
    void theStreamsOpenAndCloseAreLoggedAtInfoWithOneConnectionId() {
        String sid = Contract.createSubscription(server, all, List.of(table("orders")));
        try (LogCapture log = new LogCapture()) {
            try (SseTestClient sse = SseTestClient.open(Contract.events(server, "subscription_id=" + sid), bearer(all))) {
                sse.expect("subscribed");
                assertThat(Api.delete(server.http("/v1/subscriptions/" + sid), all).status()).isEqualTo(204);
                sse.awaitEnd(Duration.ofSeconds(5));
            }
            List<ch.qos.logback.classic.spi.ILoggingEvent> lines = new java.util.ArrayList<>();
            org.awaitility.Awaitility.await().atMost(Contract.WAIT).untilAsserted(() -> {
                lines.clear();
                log.lines().stream()
                        .filter(e -> e.getLoggerName().startsWith("io.cdcnotify.sse"))
                        .filter(e -> e.getLevel() == ch.qos.logback.classic.Level.INFO)
                        .forEach(lines::add);
                assertThat(lines).extracting(e -> e.getFormattedMessage().toLowerCase())
                        .anySatisfy(m -> assertThat(m).contains("open"))
                        .anySatisfy(m -> assertThat(m).contains("close"));
            });
            assertThat(lines).allSatisfy(e -> assertThat(LogCapture.connectionId(e))
                    .as("connection_id of \"%s\"", e.getFormattedMessage()).isNotNull());
            assertThat(lines).extracting(LogCapture::connectionId).containsOnly(LogCapture.connectionId(lines.getFirst()));
        }
    }

    @Test
    void anIdleStreamGetsAKeepaliveCommentAfter15Seconds() {
        try (SseTestClient sse = SseTestClient.open(server, "/v1/events?tables=" + table("idle"), bearer(all))) {
            String head = sse.await(x -> SUBSCRIBED.matcher(x).find(), Contract.WAIT, "the subscribed message");
            long subscribedAt = System.nanoTime();
            int from = head.length();
            sse.awaitIndexOf(": keepalive\n\n", from, Duration.ofSeconds(18));
            long elapsedMillis = (System.nanoTime() - subscribedAt) / 1_000_000;
            assertThat(elapsedMillis).as("ms from subscribed to keepalive").isBetween(14_900L, 17_000L);
            assertThat(sse.text().substring(from)).isEqualTo(": keepalive\n\n");
        }
    }

    // ---- helpers ----

    private record Resume(long firstId, String firstCursor, long secondId, long thirdId) {
    }

    /** Three events of a table, and the first one's cursor as a WebSocket client saw it. */
    private static Resume eventsWithCursors(String t) throws Exception {
        try (io.cdcnotify.testing.WsTestClient ws = io.cdcnotify.testing.WsTestClient.authenticated(server, all)) {
            ws.subscribe("r", List.of(t));
            long a = Outbox.insert(DB, t, "INSERT", "{\"n\":1}");
            long b = Outbox.insert(DB, t, "INSERT", "{\"n\":2}");
            long c = Outbox.insert(DB, t, "INSERT", "{\"n\":3}");
            List<JsonNode> events = ws.events(3, Contract.WAIT);
            return new Resume(a, events.getFirst().get("cursor").asText(), b, c);
        }
    }

    private static void assertResumed(SseTestClient sse, String t, Resume r) throws Exception {
        assertThat(sse.status()).as("status, body %s", sse.body()).isEqualTo(200);
        sse.expect("subscribed");
        List<SseTestClient.Event> backlog = sse.events(2, Contract.WAIT);
        assertThat(backlog).extracting(e -> e.json().get("id").asLong()).containsExactly(r.secondId, r.thirdId);
        assertThat(backlog).allSatisfy(e -> assertThat(e.id()).isEqualTo(e.json().get("cursor").asText()));
        long live = Outbox.insert(DB, t, "INSERT", "{\"n\":4}");
        assertThat(sse.events(1, Contract.WAIT).getFirst().json().get("id").asLong()).isEqualTo(live);
    }

    private static JsonNode idsOf(JsonNode subscriptions) {
        var ids = JSON.createArrayNode();
        subscriptions.forEach(s -> ids.add(s.get("id")));
        return ids;
    }

    private static Map<String, String> bearer(String key) {
        return Map.of("Authorization", "Bearer " + key);
    }

    /** Refused before the stream opened: the status, and the JSON body {@code {"code","message"}}. */
    private static void assertRefused(SseTestClient sse, int status, String code) {
        assertThat(sse.status()).as("status, body %s", sse.body()).isEqualTo(status);
        assertThat(sse.header("Content-Type")).startsWith("application/json");
        JsonNode body = sse.bodyJson();
        assertThat(fields(body)).isEqualTo(Set.of("code", "message"));
        assertThat(body.get("code").asText()).isEqualTo(code);
        assertThat(body.get("message").isTextual()).isTrue();
    }
}
