package io.cdcnotify.contract;

import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.contract.Contract.fields;
import static io.cdcnotify.contract.Contract.table;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract sections 4 and 5, the slow consumer ({@code cdc.limits.client-buffer-events}, here 10): a client that
 * stops reading while events pour in gets {@code slow_consumer} carrying the cursor of the last event written
 * to it, then close 4408 (WebSocket, the cursor also the close reason) or the end of the stream (SSE).
 */
class SlowConsumerTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int EVENTS = 300;
    private static final String PAYLOAD = "{\"pad\":\"" + "x".repeat(32 * 1024) + "\"}";
    private static final Duration WAIT = Duration.ofSeconds(30);

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        // the clients pause while the flood is written: a long close grace keeps them from being cut as stuck
        server = CdcServer.start(DB, Map.of("cdc.limits.client-buffer-events", "10",
                                            "cdc.limits.close-grace-ms", "120000"));
        key = Contract.key(server, List.of("*"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void aWebSocketThatStopsReadingGetsSlowConsumerWithTheLastCursorWrittenThenClose4408() throws Exception {
        String t = table("flood");
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.subscribe("r1", List.of(t));
            ws.pause();
            flood(t);
            ws.resume();
            List<JsonNode> events = new ArrayList<>();
            JsonNode error = null;
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (error == null && System.nanoTime() < deadline) {
                JsonNode m = ws.next(WAIT);
                if ("cdc_event".equals(m.path("type").asText())) {
                    events.add(m.get("event"));
                } else {
                    error = m;
                }
            }
            assertThat(error).as("a message other than an event").isNotNull();
            assertThat(fields(error)).isEqualTo(Set.of("v", "type", "code", "message", "cursor"));
            assertThat(error.get("type").asText()).isEqualTo("error");
            assertThat(error.get("code").asText()).isEqualTo("slow_consumer");
            assertThat(events.size()).as("events before the error").isLessThan(EVENTS);
            String lastCursor = events.isEmpty() ? null : events.getLast().get("cursor").asText();
            if (lastCursor == null) {
                assertThat(error.get("cursor").isNull()).isTrue();
            } else {
                assertThat(error.get("cursor").asText()).isEqualTo(lastCursor);
            }
            WsTestClient.Close close = ws.closed();
            assertThat(close.code()).isEqualTo(4408);
            if (lastCursor != null && lastCursor.getBytes(java.nio.charset.StandardCharsets.UTF_8).length <= 123) {
                assertThat(close.reason()).isEqualTo(lastCursor);
            }
            assertThat(ws.drain()).isEmpty();
        }
    }

    @Test
    void anSseStreamThatStopsReadingGetsErrorSlowConsumerWithTheLastCursorWrittenThenEnds() throws Exception {
        String t = table("flood");
        try (SseTestClient sse = SseTestClient.connect(server, "/v1/events?tables=" + t,
                                         Map.of("Authorization", "Bearer " + key), 4096)) {
            assertThat(sse.status()).isEqualTo(200);
            sse.startReading();
            sse.awaitIndexOf("event: subscribed\n", 0, Contract.WAIT);
            sse.awaitIndexOf("\n\n", 0, Contract.WAIT);
            sse.pause();
            flood(t);
            sse.resume();
            sse.awaitEnd(WAIT);
            String text = sse.text();
            Matcher error = Pattern.compile("event: error\ndata: ([^\n]*)\n\n").matcher(text);
            assertThat(error.find()).as("an error event in:\n%s", tail(text)).isTrue();
            JsonNode data = JSON.readTree(error.group(1));
            assertThat(fields(data)).isEqualTo(Set.of("code", "message", "cursor"));
            assertThat(data.get("code").asText()).isEqualTo("slow_consumer");
            assertThat(text.substring(error.end())).as("nothing after the error").isEmpty();
            Matcher ids = Pattern.compile("(?m)^id: (.*)$").matcher(text.substring(0, error.start()));
            String lastCursor = null;
            int count = 0;
            while (ids.find()) {
                lastCursor = ids.group(1);
                count++;
            }
            assertThat(count).as("events before the error").isLessThan(EVENTS);
            if (lastCursor == null) {
                assertThat(data.get("cursor").isNull()).isTrue();
            } else {
                assertThat(data.get("cursor").asText()).isEqualTo(lastCursor);
            }
        }
    }

    /** Commits many large events to a table at once. */
    private static void flood(String table) throws Exception {
        try (Connection c = Outbox.begin(DB)) {
            for (int i = 0; i < EVENTS; i++) {
                Outbox.insert(c, table, "INSERT", PAYLOAD);
            }
            c.commit();
        }
    }

    private static String tail(String text) {
        return text.length() <= 2000 ? text : text.substring(text.length() - 2000);
    }
}
