package io.cdcnotify.contract;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.LogCapture;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static io.cdcnotify.contract.Contract.assertNoLeak;
import static io.cdcnotify.contract.Contract.assertWsError;
import static io.cdcnotify.contract.Contract.fields;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Contract section 4, authentication of {@code GET /v1/ws}: the three ways in, and every way of being refused. */
class WsAuthenticationTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    /** A key that looks like one the service issues, but was never made. */
    private static final String UNKNOWN_KEY = "cdc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.auth-timeout-seconds", "1"));
        key = Contract.key(server, List.of("orders"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void aKeyInTheAuthorizationHeaderGetsAuthOkRightAfterTheUpgrade() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"), Map.of("Authorization", "Bearer " + key))) {
            assertAuthOk(ws.next());
        }
    }

    @Test
    void aKeyInTheApiKeyQueryGetsAuthOkRightAfterTheUpgrade() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws?api_key=" + key))) {
            assertAuthOk(ws.next());
        }
    }

    @Test
    void anAuthMessageGetsAuthOk() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"))) {
            ws.send(Map.of("type", "auth", "api_key", key));
            assertAuthOk(ws.next());
        }
    }

    @Test
    void theAdminKeyAuthenticatesAWebSocket() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"),
                                                    Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY))) {
            assertAuthOk(ws.next());
        }
    }

    @Test
    void everyConnectionGetsItsOwnConnectionId() {
        try (WsTestClient a = WsTestClient.connect(server.ws("/v1/ws?api_key=" + key));
             WsTestClient b = WsTestClient.connect(server.ws("/v1/ws?api_key=" + key))) {
            String idA = a.expect("auth_ok").get("connection_id").asText();
            String idB = b.expect("auth_ok").get("connection_id").asText();
            assertThat(idA).isNotEqualTo(idB);
        }
    }

    @Test
    void anUnknownKeyInTheHeaderGetsUnauthorizedThenClose4401() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"),
                                                    Map.of("Authorization", "Bearer " + UNKNOWN_KEY))) {
            assertRefused(ws);
        }
    }

    @Test
    void anUnknownKeyInTheQueryGetsUnauthorizedThenClose4401() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws?api_key=" + UNKNOWN_KEY))) {
            assertRefused(ws);
        }
    }

    @Test
    void anUnknownKeyInTheAuthMessageGetsUnauthorizedThenClose4401() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"))) {
            ws.send(Map.of("type", "auth", "api_key", UNKNOWN_KEY));
            assertRefused(ws);
        }
    }

    static Stream<Arguments> messagesOtherThanAuth() {
        return Stream.of(Arguments.of("ping", "{\"type\":\"ping\",\"request_id\":\"p1\"}"),
                         Arguments.of("subscribe", "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders\"]}"),
                         Arguments.of("unsubscribe", "{\"type\":\"unsubscribe\",\"request_id\":\"r1\",\"subscription_id\":\"s-1\"}"),
                         Arguments.of("malformed JSON", "{\"type\":\"auth\","),
                         Arguments.of("auth without api_key", "{\"type\":\"auth\"}"),
                         Arguments.of("unknown type", "{\"type\":\"hello\"}"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("messagesOtherThanAuth")
    void aMessageOtherThanAuthBeforeAuthenticationGetsUnauthorizedThenClose4401(String what, String frame) {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"))) {
            ws.send(frame);
            assertRefused(ws);
        }
    }

    /** Issue 14: the error answering a request sent before authentication carries that request's id. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("requestsBeforeAuth")
    void anErrorAnsweringARequestBeforeAuthenticationCarriesItsRequestId(String what, String frame) {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"))) {
            ws.send(frame);
            JsonNode first = ws.next();
            assertWsError(first, "unauthorized", "e1");
            assertNoLeak(first.toString(), UNKNOWN_KEY, key);
            assertThat(ws.closed().code()).isEqualTo(4401);
        }
    }

    static Stream<Arguments> requestsBeforeAuth() {
        return Stream.of(Arguments.of("subscribe", "{\"type\":\"subscribe\",\"request_id\":\"e1\",\"tables\":[\"orders\"]}"),
                         Arguments.of("ping", "{\"type\":\"ping\",\"request_id\":\"e1\"}"),
                         Arguments.of("unknown type", "{\"type\":\"hello\",\"request_id\":\"e1\"}"),
                         Arguments.of("auth with an unknown key",
                                      "{\"type\":\"auth\",\"request_id\":\"e1\",\"api_key\":\"" + UNKNOWN_KEY + "\"}"));
    }

    @Test
    void anErrorBeforeAuthenticationAnsweringNoRequestHasNoRequestId() {
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"))) {
            ws.send("{\"type\":\"ping\"}");
            assertWsError(ws.next(), "unauthorized", null);
            assertThat(ws.closed().code()).isEqualTo(4401);
        }
    }

    @Test
    void noAuthenticationWithinTheTimeoutGetsUnauthorizedThenClose4401() {
        long start = System.nanoTime();
        try (WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"))) {
            JsonNode error = ws.next(Duration.ofSeconds(5));
            WsTestClient.Close close = ws.closed();
            long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
            assertWsError(error, "unauthorized");
            assertThat(close.code()).isEqualTo(4401);
            // measured from before the upgrade, so never less than the server's own 1 s
            assertThat(elapsedMillis).isBetween(1000L, 3000L);
        }
    }

    @Test
    void anAuthMessageAfterAuthenticationDoesNotCloseTheConnection() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.send(Map.of("type", "auth", "api_key", key, "request_id", "again"));
            JsonNode answer = ws.next();
            assertNoLeak(answer.toString(), key);
            ws.send(Map.of("type", "ping", "request_id", "p"));
            assertThat(ws.until(m -> "pong".equals(m.path("type").asText()), Contract.WAIT)
                               .get("request_id").asText()).isEqualTo("p");
            assertThat(ws.closeFuture()).isNotDone();
        }
    }

    @Test
    void theConnectionIdOfAuthOkTagsTheConnectionsOpenAndCloseLogLinesAndNoLogLineHasTheKey() {
        try (LogCapture log = new LogCapture()) {
            String connectionId;
            try (WsTestClient ws = WsTestClient.authenticated(server, key).closingCleanly()) {
                connectionId = ws.authOk().get("connection_id").asText();
                ws.send(Map.of("type", "ping", "request_id", "p"));
                ws.expect("pong");
                ws.send(Map.of("type", "auth", "api_key", key));
                ws.next();
            }
            await().atMost(Contract.WAIT).untilAsserted(() -> assertThat(log.lines())
                    .filteredOn(e -> connectionId.equals(LogCapture.connectionId(e)))
                    .filteredOn(e -> e.getLevel() == Level.INFO)
                    .extracting(e -> e.getFormattedMessage().toLowerCase())
                    .anySatisfy(m -> assertThat(m).contains("open"))
                    .anySatisfy(m -> assertThat(m).contains("close")));
            assertThat(log.lines()).filteredOn(e -> e.getLoggerName().startsWith("io.cdcnotify.ws"))
                    .allSatisfy(e -> assertThat(LogCapture.connectionId(e)).as(e.getFormattedMessage()).isNotNull());
            assertThat(log.lines()).allSatisfy(e -> {
                assertThat(e.getFormattedMessage()).doesNotContain(key);
                assertThat(String.valueOf(e.getMDCPropertyMap())).doesNotContain(key);
            });
        }
    }

    private static void assertAuthOk(JsonNode m) {
        assertThat(fields(m)).isEqualTo(Set.of("v", "type", "connection_id"));
        assertThat(m.get("v").isInt()).isTrue();
        assertThat(m.get("v").asInt()).isEqualTo(1);
        assertThat(m.get("type").asText()).isEqualTo("auth_ok");
        assertThat(m.get("connection_id").asText()).matches("c-\\S+");
    }

    /** An {@code unauthorized} error as the first message (no {@code auth_ok}), then close 4401. */
    private static void assertRefused(WsTestClient ws) {
        JsonNode first = ws.next();
        assertWsError(first, "unauthorized");
        assertNoLeak(first.toString(), UNKNOWN_KEY, key);
        assertThat(ws.closed().code()).isEqualTo(4401);
        assertThat(ws.drain()).isEmpty();
    }
}
