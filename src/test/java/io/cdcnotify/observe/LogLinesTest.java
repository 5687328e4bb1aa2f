package io.cdcnotify.observe;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import ch.qos.logback.core.encoder.Encoder;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.LogCapture;
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
 * Log lines as the shipped {@code logback.xml} writes them (contract section 8): one JSON object each, with
 * {@code timestamp} (ISO-8601 UTC), {@code level}, {@code logger} and {@code message}; each connection's open
 * and close at INFO with its {@code connection_id}, which every line about it carries; never a key.
 */
class LogLinesTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(15);
    /** Opened before the class's server starts (a static field is set before the extension runs). */
    private static final LogCapture LOGS = new LogCapture();
    private static Encoder<ILoggingEvent> shipped;

    @BeforeAll
    static void encoder() throws Exception {
        shipped = shippedEncoder();
    }

    @AfterAll
    static void stop() {
        LOGS.close();
    }

    @Test
    void everyLineIsOneJsonObjectWithTheContractFields() {
        Api.get(CDC.server().http("/health"), null);
        for (JsonNode line : lines()) {
            assertThat(line.path("timestamp").asText()).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z");
            assertThat(Instant.parse(line.get("timestamp").asText())).isBefore(Instant.now().plusSeconds(1));
            assertThat(line.path("level").asText()).isIn("TRACE", "DEBUG", "INFO", "WARN", "ERROR");
            assertThat(line.path("logger").asText()).isNotEmpty();
            assertThat(line.has("message")).isTrue();
        }
    }

    @Test
    void aWebSocketConnectionIsLoggedOpenAndClosedAtInfoWithItsConnectionId() {
        String key = Api.createKey(CDC.server(), List.of("orders"));
        String id;
        // the key in the query: it must not reach the logs either
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), "/v1/ws?api_key=" + key, Map.of()).closingCleanly()) {
            id = ws.connectionId(); // from auth_ok: what the log lines must carry
            ws.send("{\"type\":\"ping\",\"request_id\":\"p\"}");
            ws.expect("pong");
            ws.send("{not json");
            ws.expect("error");
            ws.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("orders")));
            ws.expect("subscribed");
        }
        String connection = id;
        await().atMost(WAIT).untilAsserted(() -> {
            List<JsonNode> mine = lines().stream()
                    .filter(l -> connection.equals(l.path("connection_id").asText(null))).toList();
            assertThat(mine).anySatisfy(l -> {
                assertThat(l.get("level").asText()).isEqualTo("INFO");
                assertThat(l.get("message").asText()).contains("opened");
            });
            assertThat(mine).anySatisfy(l -> {
                assertThat(l.get("level").asText()).isEqualTo("INFO");
                assertThat(l.get("message").asText()).contains("closed");
            });
        });
        assertNoKey(key);
    }

    @Test
    void everyLineFromTheConnectionsOwnClassesCarriesItsConnectionId() {
        String key = Api.createKey(CDC.server(), List.of("orders"));
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), key).closingCleanly()) {
            ws.subscribe("r", List.of("orders"));
        }
        try (SseTestClient sse = SseTestClient.subscribed(CDC.server(), key, "orders")) {
            sse.events(0, WAIT);
        }
        await().atMost(WAIT).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
            Outbox.insert(DB, "orders", "INSERT", "{\"nudge\":true}"); // the closed stream is noticed at a write
            assertThat(lines()).anySatisfy(l -> assertThat(l.get("message").asText()).contains("sse stream closed"));
        });
        // the stream's handler logs after its Client's writer returns on the same thread: its MDC must survive
        assertThat(lines()).filteredOn(l -> l.get("logger").asText()
                        .matches("io\\.cdcnotify\\.(ws|sse)\\..*|io\\.cdcnotify\\.hub\\.Client"))
                .isNotEmpty()
                .allSatisfy(l -> assertThat(l.path("connection_id").asText()).as(l.toString()).matches("c-[0-9a-f]{16}"));
    }

    @Test
    void anSseStreamIsLoggedOpenAndClosedAtInfoWithItsConnectionId() {
        String key = Api.createKey(CDC.server(), List.of("orders"));
        int before = lines().size();
        try (SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?tables=orders&api_key=" + key))) {
            assertThat(sse.status()).isEqualTo(200);
            sse.expect("subscribed");
        }
        await().atMost(WAIT).pollInterval(Duration.ofMillis(300)).untilAsserted(() -> {
            // a closed stream is noticed at the server's next write to it: give it something to write
            Outbox.insert(DB, "orders", "INSERT", "{\"nudge\":true}");
            List<JsonNode> all = lines();
            List<JsonNode> fresh = all.subList(before, all.size()).stream()
                    .filter(l -> l.get("logger").asText().startsWith("io.cdcnotify.")).toList();
            JsonNode opened = fresh.stream().filter(l -> l.get("message").asText().contains("opened")).findFirst()
                    .orElseThrow(() -> new AssertionError("no 'opened' line in " + fresh));
            String id = opened.path("connection_id").asText();
            assertThat(id).matches("c-[0-9a-f]{16}");
            assertThat(opened.get("level").asText()).isEqualTo("INFO");
            assertThat(fresh).anySatisfy(l -> {
                assertThat(l.path("connection_id").asText()).isEqualTo(id);
                assertThat(l.get("level").asText()).isEqualTo("INFO");
                assertThat(l.get("message").asText()).contains("closed");
            });
        });
        assertNoKey(key);
    }

    @Test
    void aClientsErrorLeavesNoStackTrace() {
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws"))) {
            ws.send("{\"type\":\"auth\",\"api_key\":\"cdc_" + "n".repeat(43) + "\"}");
            assertThat(ws.expect("error").get("code").asText()).isEqualTo("unauthorized");
            ws.closed();
        }
        Api.postJson(CDC.server().http("/v1/subscriptions"), CdcServer.ADMIN_KEY, Map.of("tables", List.of("bad table!")));
        Api.send("POST", CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY, "{\"name\":", "application/json");
        assertThat(lines()).allSatisfy(l -> assertThat(l.has("stack_trace")).as(l.toString()).isFalse());
        assertNoKey("cdc_" + "n".repeat(43));
    }

    private static void assertNoKey(String key) {
        assertThat(lines()).noneSatisfy(l -> assertThat(l.toString()).containsAnyOf(key, CdcServer.ADMIN_KEY));
    }

    /** Every captured event, encoded by the shipped encoder and parsed back: each must be one JSON object. */
    private static List<JsonNode> lines() {
        List<ILoggingEvent> events = List.copyOf(LOGS.lines());
        List<JsonNode> lines = new ArrayList<>();
        for (ILoggingEvent e : events) {
            String text = new String(shipped.encode(e), StandardCharsets.UTF_8);
            assertThat(text).endsWith("\n");
            assertThat(text.strip()).doesNotContain("\n");
            try {
                JsonNode node = JSON.readTree(text);
                assertThat(node.isObject()).isTrue();
                lines.add(node);
            } catch (Exception ex) {
                throw new AssertionError("not a JSON line: " + text, ex);
            }
        }
        return lines;
    }

    /**
     * The encoder of {@code src/main/resources/logback.xml}, the file the jar ships: the console appender behind
     * its asynchronous STDOUT appender.
     */
    @SuppressWarnings("unchecked")
    private static Encoder<ILoggingEvent> shippedEncoder() throws Exception {
        LoggerContext context = new LoggerContext();
        JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        configurator.doConfigure(LogLinesTest.class.getResource("/logback.xml"));
        ch.qos.logback.classic.AsyncAppender async = (ch.qos.logback.classic.AsyncAppender)
                context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).getAppender("STDOUT");
        assertThat(async).as("the STDOUT appender of logback.xml").isNotNull();
        OutputStreamAppender<ILoggingEvent> console = (OutputStreamAppender<ILoggingEvent>) async.getAppender("JSON");
        assertThat(console).as("the console appender behind it").isNotNull();
        return console.getEncoder();
    }
}
