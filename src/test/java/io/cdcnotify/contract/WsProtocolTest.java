package io.cdcnotify.contract;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * RFC 6455 strictness of {@code /v1/ws}, frame by frame over a raw socket: each violation closes the connection
 * with its code (1002 protocol error, 1007 invalid UTF-8), the server then closes the socket, nothing but
 * WebSocket frames is ever written after the upgrade, and the log holds no stack trace and no ERROR line.
 */
class WsProtocolTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final ObjectMapper JSON = new ObjectMapper();
    /** {@code cdc.limits.max-frame-bytes}, by default. */
    private static final int MAX_MESSAGE = 65_536;

    private static CdcServer server;
    private LogCapture log;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @BeforeEach
    void capture() {
        log = new LogCapture();
    }

    @AfterEach
    void noTraceNoError() {
        try {
            assertThat(log.withStackTrace()).as("log lines with a stack trace").isEmpty();
            assertThat(log.lines()).noneMatch(e -> e.getLevel().isGreaterOrEqual(Level.ERROR));
        } finally {
            log.close();
        }
    }

    @Test
    void invalidUtf8InATextFrameCloses1007() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.TEXT, new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', '}'});
            assertClosedWith(ws, 1007);
        }
    }

    @Test
    void aSurrogateEncodedInUtf8Closes1007() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.TEXT, new byte[] {'"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"'});
            assertClosedWith(ws, 1007);
        }
    }

    @Test
    void aMessageEndingInsideACharacterCloses1007() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.TEXT, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWs.CONTINUATION, new byte[] {(byte) 0xE2, (byte) 0x82});
            assertClosedWith(ws, 1007);
        }
    }

    @Test
    void aCharacterSplitBetweenTwoFragmentsArrivesWhole() throws IOException {
        byte[] whole = "{\"type\":\"ping\",\"request_id\":\"€x\"}".getBytes(StandardCharsets.UTF_8);
        int euro = indexOf(whole, (byte) 0xE2);
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.TEXT, Arrays.copyOfRange(whole, 0, euro + 1));
            ws.frame(false, RawWs.CONTINUATION, Arrays.copyOfRange(whole, euro + 1, euro + 2));
            ws.frame(true, RawWs.CONTINUATION, Arrays.copyOfRange(whole, euro + 2, whole.length));
            JsonNode pong = JSON.readTree(ws.next().text());
            assertThat(pong.get("type").asText()).isEqualTo("pong");
            assertThat(pong.get("request_id").asText()).isEqualTo("€x");
        }
    }

    /** The size limit holds for a whole message, counted in UTF-8 bytes, however it is cut into frames. */
    @Test
    void aTextMessageOverTheLimitAcrossFragmentsCloses1009() throws IOException {
        byte[] half = "é".repeat(MAX_MESSAGE / 4).getBytes(StandardCharsets.UTF_8); // half the limit, in bytes
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.TEXT, "{\"type\":\"ping\",\"x\":\"".getBytes(StandardCharsets.UTF_8));
            ws.frame(false, RawWs.CONTINUATION, half);
            ws.frame(false, RawWs.CONTINUATION, half);
            ws.frame(true, RawWs.CONTINUATION, "\"}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1009);
        }
    }

    @Test
    void aTextMessageOfExactlyTheLimitAcrossFragmentsIsRead() throws IOException {
        byte[] head = "{\"type\":\"ping\",\"request_id\":\"whole\",\"x\":\"".getBytes(StandardCharsets.UTF_8);
        byte[] tail = "\"}".getBytes(StandardCharsets.UTF_8);
        int fill = MAX_MESSAGE - head.length - tail.length;
        byte[] body = ("é".repeat(fill / 2) + "e".repeat(fill % 2)).getBytes(StandardCharsets.UTF_8);
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.TEXT, head);
            ws.frame(false, RawWs.CONTINUATION, Arrays.copyOfRange(body, 0, body.length / 2));
            ws.frame(false, RawWs.CONTINUATION, Arrays.copyOfRange(body, body.length / 2, body.length));
            ws.frame(true, RawWs.CONTINUATION, tail);
            JsonNode pong = JSON.readTree(ws.next().text());
            assertThat(pong.get("type").asText()).isEqualTo("pong");
            assertThat(pong.get("request_id").asText()).isEqualTo("whole");
        }
    }

    @Test
    void aPingOver125BytesCloses1002() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.PING, new byte[126]);
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aFragmentedPingCloses1002() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.PING, new byte[] {1, 2});
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aPingOf125BytesIsAnsweredWithItsPayload() throws IOException {
        byte[] payload = new byte[125];
        Arrays.fill(payload, (byte) 7);
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.PING, payload);
            RawWs.Frame pong = ws.nextControl();
            assertThat(pong.opcode()).isEqualTo(RawWs.PONG);
            assertThat(pong.payload()).isEqualTo(payload);
        }
    }

    @Test
    void reservedOpcodesClose1002WithoutAnyHttpResponseInTheStream() throws IOException {
        for (int opcode : new int[] {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
            try (RawWs ws = authenticated()) {
                ws.frame(true, opcode, new byte[] {1});
                assertClosedWith(ws, 1002);
                assertThat(ws.receivedText()).as("opcode %d", opcode).doesNotContain("HTTP/1.1");
            }
        }
    }

    @Test
    void reservedBitsClose1002() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, 4, RawWs.TEXT, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aNewTextFrameInsideAFragmentedMessageCloses1002() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.TEXT, "{\"type\":".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWs.TEXT, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aContinuationWithoutAMessageCloses1002() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.CONTINUATION, "{}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aPingBetweenFragmentsIsAllowed() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(false, RawWs.TEXT, "{\"type\":\"ping\",".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWs.PING, new byte[] {9});
            ws.frame(true, RawWs.CONTINUATION, "\"request_id\":\"f\"}".getBytes(StandardCharsets.UTF_8));
            assertThat(ws.nextControl().opcode()).isEqualTo(RawWs.PONG);
            JsonNode pong = JSON.readTree(ws.next().text());
            assertThat(pong.get("request_id").asText()).isEqualTo("f");
        }
    }

    @Test
    void theClientsCloseIsAnsweredAndTheSocketClosed() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.CLOSE, new byte[] {0x03, (byte) 0xE8, 'b', 'y', 'e'});
            assertThat(ws.closeFrame().closeCode()).isEqualTo(1000);
            assertThat(ws.socketClosedByServer()).isTrue();
        }
    }

    @Test
    void aCloseWithACodeNoPeerMaySendCloses1002() throws IOException {
        try (RawWs ws = authenticated()) {
            ws.frame(true, RawWs.CLOSE, new byte[] {0x03, (byte) 0xED}); // 1005
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void violationsBeforeAuthenticationAreClosedTheSameWay() throws IOException {
        try (RawWs ws = RawWs.open(server.port(), "/v1/ws", null)) {
            ws.frame(true, 0x3, new byte[0]);
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void theEndIsLoggedOnceWithTheConnectionIdWhetherAViolationOrAVanishedClient() throws IOException {
        String violating;
        try (RawWs ws = RawWs.open(server.port(), "/v1/ws", CdcServer.ADMIN_KEY)) {
            violating = JSON.readTree(ws.next().text()).get("connection_id").asText();
            ws.frame(true, 0x3, new byte[0]);
            assertClosedWith(ws, 1002);
        }
        String vanished;
        try (RawWs ws = RawWs.open(server.port(), "/v1/ws", CdcServer.ADMIN_KEY)) {
            vanished = JSON.readTree(ws.next().text()).get("connection_id").asText();
        } // the socket closes without a close frame
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            assertThat(closedLines(violating)).containsExactly("websocket connection closed (1002 reserved opcode 3)");
            assertThat(closedLines(vanished)).containsExactly("websocket connection closed (1006 connection lost)");
        });
    }

    private java.util.List<String> closedLines(String connectionId) {
        return log.lines().stream()
                .filter(e -> connectionId.equals(LogCapture.connectionId(e)))
                .filter(e -> e.getLoggerName().equals("io.cdcnotify.ws.WsEndpoint"))
                .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains("closed"))
                .toList();
    }

    private static RawWs authenticated() throws IOException {
        RawWs ws = RawWs.open(server.port(), "/v1/ws", CdcServer.ADMIN_KEY);
        JsonNode ok = JSON.readTree(ws.next().text());
        assertThat(ok.get("type").asText()).isEqualTo("auth_ok");
        return ws;
    }

    private static void assertClosedWith(RawWs ws, int code) throws IOException {
        RawWs.Frame close = ws.closeFrame();
        assertThat(close.closeCode()).isEqualTo(code);
        assertThat(ws.socketClosedByServer()).as("the server closes the socket after the close frame").isTrue();
    }

    private static int indexOf(byte[] bytes, byte b) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        throw new AssertionError("not found");
    }
}
