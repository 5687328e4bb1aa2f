package io.cdcnotify.contract;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
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
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 4, what a WebSocket client may get wrong: every kind of {@code bad_request}, the 20th within
 * 10 s closing with 4400, frames over the size limit closing with 1009, and errors that never leak.
 */
class WsBadRequestTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final int MAX_FRAME = 4096;
    /** Marks a case whose request_id cannot be echoed or is not checked. */
    private static final String ANY = "\u0000any";

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.max-frame-bytes", Integer.toString(MAX_FRAME)));
        key = Contract.key(server, List.of("orders", "customers"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static Stream<Arguments> badRequests() {
        return Stream.of(
                Arguments.of("malformed JSON", "{\"type\":\"ping\",\"request_id\":\"r1\"", null),
                Arguments.of("trailing garbage", "{\"type\":\"ping\",\"request_id\":\"r1\"} x", null),
                Arguments.of("not an object", "[\"ping\"]", null),
                Arguments.of("a JSON string", "\"ping\"", null),
                Arguments.of("type missing", "{\"request_id\":\"r1\"}", "r1"),
                Arguments.of("type not a string", "{\"type\":1,\"request_id\":\"r1\"}", "r1"),
                Arguments.of("unknown type", "{\"type\":\"publish\",\"request_id\":\"r1\"}", "r1"),
                Arguments.of("request_id not a string", "{\"type\":\"ping\",\"request_id\":5}", ANY),
                Arguments.of("tables not an array",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":\"orders\"}", "r1"),
                Arguments.of("tables holding a number",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders\",1]}", "r1"),
                Arguments.of("neither tables nor subscription_id", "{\"type\":\"subscribe\",\"request_id\":\"r1\"}", "r1"),
                Arguments.of("empty tables", "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[]}", "r1"),
                Arguments.of("table name with a semicolon",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders;drop\"]}", "r1"),
                Arguments.of("table name with a space",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"my orders\"]}", "r1"),
                Arguments.of("table name with a dash",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"my-orders\"]}", "r1"),
                Arguments.of("empty table name",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"\"]}", "r1"),
                Arguments.of("table name of 129 characters",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"" + "a".repeat(129) + "\"]}", "r1"),
                Arguments.of("resume_from not a cursor",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders\"],\"resume_from\":\"not-a-cursor\"}",
                             "r1"),
                Arguments.of("resume_from a number",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders\"],\"resume_from\":17}", "r1"),
                Arguments.of("subscription_id a number",
                             "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"subscription_id\":17}", "r1"),
                Arguments.of("unsubscribe without subscription_id", "{\"type\":\"unsubscribe\",\"request_id\":\"r1\"}", "r1"),
                Arguments.of("unsubscribe with subscription_id an array",
                             "{\"type\":\"unsubscribe\",\"request_id\":\"r1\",\"subscription_id\":[\"s-1\"]}", "r1"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badRequests")
    void anInvalidRequestIsAnsweredBadRequestAndTheConnectionStaysOpen(String what, String frame, String requestId) {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.send(frame);
            JsonNode answer = ws.next();
            if (ANY.equals(requestId)) {
                assertWsError(answer, "bad_request");
            } else {
                assertWsError(answer, "bad_request", requestId);
            }
            ws.send(Map.of("type", "ping", "request_id", "after"));
            assertThat(ws.expect("pong").get("request_id").asText()).isEqualTo("after");
        }
    }

    @Test
    void aResumeFromThatIsATamperedCursorIsBadRequest() throws Exception {
        String cursor;
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.subscribe("r1", List.of("customers"));
            Outbox.insert(DB, "customers", "INSERT", "{}");
            cursor = ws.events(1, Contract.WAIT).getFirst().get("cursor").asText();
        }
        char last = cursor.charAt(cursor.length() - 1);
        String tampered = cursor.substring(0, cursor.length() - 1) + (last == 'A' ? 'B' : 'A');
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "tables", List.of("customers"),
                           "resume_from", tampered));
            assertWsError(ws.next(), "bad_request", "r2");
        }
    }

    @Test
    void nineteenBadRequestsWithinTenSecondsKeepTheConnectionOpen() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            for (int i = 0; i < 19; i++) {
                ws.send("{not json " + i);
            }
            for (int i = 0; i < 19; i++) {
                assertWsError(ws.next(), "bad_request", null);
            }
            ws.send(Map.of("type", "ping", "request_id", "still-open"));
            assertThat(ws.expect("pong").get("request_id").asText()).isEqualTo("still-open");
            assertThat(ws.closeFuture()).isNotDone();
        }
    }

    @Test
    void theTwentiethBadRequestWithinTenSecondsIsSentThenTheConnectionClosesWith4400() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            for (int i = 0; i < 20; i++) {
                ws.send(Map.of("type", "nonsense", "request_id", "b" + i));
            }
            for (int i = 0; i < 20; i++) {
                assertWsError(ws.next(), "bad_request", "b" + i);
            }
            assertThat(ws.closed().code()).isEqualTo(4400);
            assertThat(ws.drain()).isEmpty();
        }
    }

    @Test
    void errorsOtherThanBadRequestDoNotCountTowardsTheBadRequestLimit() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            for (int i = 0; i < 19; i++) {
                ws.send("{not json " + i);
                assertWsError(ws.next(), "bad_request", null);
            }
            for (int i = 0; i < 3; i++) {
                ws.send(Map.of("type", "unsubscribe", "request_id", "n" + i, "subscription_id", "s-unknown" + i));
                assertWsError(ws.next(), "not_found", "n" + i);
                ws.send(Map.of("type", "subscribe", "request_id", "f" + i, "tables", List.of("payroll")));
                assertWsError(ws.next(), "forbidden", "f" + i);
            }
            ws.send(Map.of("type", "ping", "request_id", "still-open"));
            assertThat(ws.expect("pong").get("request_id").asText()).isEqualTo("still-open");
            assertThat(ws.closeFuture()).isNotDone();
        }
    }

    @Test
    void aFrameOverTheSizeLimitClosesWith1009() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.send(padded("{\"type\":\"ping\",\"request_id\":\"big\"}", MAX_FRAME + 1));
            assertThat(ws.closed().code()).isEqualTo(1009);
            assertThat(ws.drain()).noneMatch(m -> "pong".equals(m.path("type").asText()));
        }
    }

    @Test
    void aFrameOfExactlyTheSizeLimitIsAccepted() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.send(padded("{\"type\":\"ping\",\"request_id\":\"at-limit\"}", MAX_FRAME));
            assertThat(ws.expect("pong").get("request_id").asText()).isEqualTo("at-limit");
        }
    }

    @Test
    void errorMessagesNeverContainAStackTraceOrAKey() {
        List<String> frames = List.of(
                "{\"type\":\"ping\",\"x\":\"" + key + "\"",
                "{\"type\":\"" + key + "\",\"request_id\":\"e1\"}",
                "{\"type\":\"subscribe\",\"request_id\":\"e2\",\"tables\":[\"" + key + "\"]}",
                "{\"type\":\"subscribe\",\"request_id\":\"e3\",\"tables\":[\"orders\"],\"resume_from\":\"" + key + "\"}",
                "{\"type\":\"subscribe\",\"request_id\":\"e4\",\"subscription_id\":\"" + key + "\"}",
                "{\"type\":\"unsubscribe\",\"request_id\":\"e5\",\"subscription_id\":\"" + key + "\"}",
                "{\"type\":\"auth\",\"request_id\":\"e6\",\"api_key\":\"" + key + "\"}",
                "{\"type\":\"subscribe\",\"request_id\":\"e7\",\"tables\":{\"" + key + "\":1}}",
                "{\"type\":\"subscribe\",\"request_id\":\"e8\",\"tables\":[" + "[".repeat(100) + "]",
                "{\"type\":\"ping\",\"request_id\":\"" + "r".repeat(200) + "\"}",
                "{\"type\":\"ping\",\"request_id\":12345678901234567890123456789012345678901234567890}");
        List<JsonNode> answers = new ArrayList<>();
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            for (String frame : frames) {
                ws.send(frame);
                answers.add(ws.next());
            }
        }
        assertThat(answers).hasSize(frames.size());
        assertThat(answers).allSatisfy(a -> assertNoLeak(a.toString(), key));
        assertThat(answers).filteredOn(a -> "error".equals(a.path("type").asText())).hasSizeGreaterThanOrEqualTo(10);
    }

    /** {@code json} followed by spaces up to exactly {@code bytes} bytes (ASCII). */
    private static String padded(String json, int bytes) {
        return json + " ".repeat(bytes - json.length());
    }
}
