package io.cdcnotify.contract;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.LogCapture;
import io.cdcnotify.testing.RawWsClient;
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
    static final CdcFixture CDC = CdcFixture.sharedServer();

    private static final ObjectMapper JSON = new ObjectMapper();
    /** {@code cdc.limits.max-frame-bytes}, by default. */
    private static final int MAX_MESSAGE = 65_536;

    @RegisterExtension
    final LogCapture.CleanEachTest log = LogCapture.cleanEachTest();

    @Test
    void invalidUtf8InATextFrameCloses1007() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.TEXT, new byte[] {'{', '"', (byte) 0xC3, (byte) 0x28, '"', '}'});
            assertClosedWith(ws, 1007);
        }
    }

    @Test
    void aSurrogateEncodedInUtf8Closes1007() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.TEXT, new byte[] {'"', (byte) 0xED, (byte) 0xA0, (byte) 0x80, '"'});
            assertClosedWith(ws, 1007);
        }
    }

    @Test
    void aMessageEndingInsideACharacterCloses1007() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.TEXT, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWsClient.CONTINUATION, new byte[] {(byte) 0xE2, (byte) 0x82});
            assertClosedWith(ws, 1007);
        }
    }

    @Test
    void aCharacterSplitBetweenTwoFragmentsArrivesWhole() throws IOException {
        byte[] whole = "{\"type\":\"ping\",\"request_id\":\"€x\"}".getBytes(StandardCharsets.UTF_8);
        int euro = indexOf(whole, (byte) 0xE2);
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.TEXT, Arrays.copyOfRange(whole, 0, euro + 1));
            ws.frame(false, RawWsClient.CONTINUATION, Arrays.copyOfRange(whole, euro + 1, euro + 2));
            ws.frame(true, RawWsClient.CONTINUATION, Arrays.copyOfRange(whole, euro + 2, whole.length));
            JsonNode pong = JSON.readTree(ws.next().text());
            assertThat(pong.get("type").asText()).isEqualTo("pong");
            assertThat(pong.get("request_id").asText()).isEqualTo("€x");
        }
    }

    /** The size limit holds for a whole message, counted in UTF-8 bytes, however it is cut into frames. */
    @Test
    void aTextMessageOverTheLimitAcrossFragmentsCloses1009() throws IOException {
        byte[] half = "é".repeat(MAX_MESSAGE / 4).getBytes(StandardCharsets.UTF_8); // half the limit, in bytes
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.TEXT, "{\"type\":\"ping\",\"x\":\"".getBytes(StandardCharsets.UTF_8));
            ws.frame(false, RawWsClient.CONTINUATION, half);
            ws.frame(false, RawWsClient.CONTINUATION, half);
            ws.frame(true, RawWsClient.CONTINUATION, "\"}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1009);
        }
    }

    @Test
    void aTextMessageOfExactlyTheLimitAcrossFragmentsIsRead() throws IOException {
        byte[] head = "{\"type\":\"ping\",\"request_id\":\"whole\",\"x\":\"".getBytes(StandardCharsets.UTF_8);
        byte[] tail = "\"}".getBytes(StandardCharsets.UTF_8);
        int fill = MAX_MESSAGE - head.length - tail.length;
        byte[] body = ("é".repeat(fill / 2) + "e".repeat(fill % 2)).getBytes(StandardCharsets.UTF_8);
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.TEXT, head);
            ws.frame(false, RawWsClient.CONTINUATION, Arrays.copyOfRange(body, 0, body.length / 2));
            ws.frame(false, RawWsClient.CONTINUATION, Arrays.copyOfRange(body, body.length / 2, body.length));
            ws.frame(true, RawWsClient.CONTINUATION, tail);
            JsonNode pong = JSON.readTree(ws.next().text());
            assertThat(pong.get("type").asText()).isEqualTo("pong");
            assertThat(pong.get("request_id").asText()).isEqualTo("whole");
        }
    }

    /**
     * A client still sending when the server answers its violation (the rest of a frame too large, a ping after
     * it) reads the close code and then a clean end of stream, never a reset: a reset can destroy the close frame
     * before the client reads it, or fail its next write, and the client would see 1006 (connection lost)
     * instead of the code it broke.
     */
    @Test
    void aClientStillSendingAfterAFrameTooLargeGetsTheCloseCodeAndNoReset() throws IOException {
        byte[] frame = RawWsClient.encode(true, 0, RawWsClient.TEXT, new byte[MAX_MESSAGE + 1]);
        try (RawWsClient ws = authenticated()) {
            ws.raw(Arrays.copyOfRange(frame, 0, 1000));
            assertThat(ws.closeFrame().closeCode()).isEqualTo(1009);
            // the server's close is out; a client not yet aware of it sends on, then answers the close
            ws.raw(Arrays.copyOfRange(frame, 1000, frame.length));
            ws.ping("after".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWsClient.CLOSE, new byte[] {0x03, (byte) 0xF1}); // 1009
            assertThat(ws.socketEndedWithoutReset()).as("the server ends the connection without a reset").isTrue();
        }
    }

    /** The same for a violation found inside a frame's header, where the rest of the stream can't be parsed. */
    @Test
    void aClientStillSendingAfterAnUnmaskedFrameGetsTheCloseCodeAndNoReset() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.raw(new byte[] {(byte) 0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}); // unmasked: a protocol error
            assertThat(ws.closeFrame().closeCode()).isEqualTo(1002);
            for (int i = 0; i < 64; i++) {
                ws.raw(new byte[1024]); // a write after a reset fails
            }
            ws.frame(true, RawWsClient.CLOSE, new byte[] {0x03, (byte) 0xEA}); // 1002
            ws.shutdownOutput();
            assertThat(ws.socketEndedWithoutReset()).as("the server ends the connection without a reset").isTrue();
        }
    }

    @Test
    void aPingOver125BytesCloses1002() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.PING, new byte[126]);
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aFragmentedPingCloses1002() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.PING, new byte[] {1, 2});
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aPingOf125BytesIsAnsweredWithItsPayload() throws IOException {
        byte[] payload = new byte[125];
        Arrays.fill(payload, (byte) 7);
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.PING, payload);
            RawWsClient.Frame pong = ws.nextControl();
            assertThat(pong.opcode()).isEqualTo(RawWsClient.PONG);
            assertThat(pong.payload()).isEqualTo(payload);
        }
    }

    @Test
    void reservedOpcodesClose1002WithoutAnyHttpResponseInTheStream() throws IOException {
        for (int opcode : new int[] {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
            try (RawWsClient ws = authenticated()) {
                ws.frame(true, opcode, new byte[] {1});
                assertClosedWith(ws, 1002);
                assertThat(ws.receivedText()).as("opcode %d", opcode).doesNotContain("HTTP/1.1");
            }
        }
    }

    @Test
    void reservedBitsClose1002() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, 4, RawWsClient.TEXT, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aNewTextFrameInsideAFragmentedMessageCloses1002() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.TEXT, "{\"type\":".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWsClient.TEXT, "{\"type\":\"ping\"}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aContinuationWithoutAMessageCloses1002() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.CONTINUATION, "{}".getBytes(StandardCharsets.UTF_8));
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void aPingBetweenFragmentsIsAllowed() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(false, RawWsClient.TEXT, "{\"type\":\"ping\",".getBytes(StandardCharsets.UTF_8));
            ws.frame(true, RawWsClient.PING, new byte[] {9});
            ws.frame(true, RawWsClient.CONTINUATION, "\"request_id\":\"f\"}".getBytes(StandardCharsets.UTF_8));
            assertThat(ws.nextControl().opcode()).isEqualTo(RawWsClient.PONG);
            JsonNode pong = JSON.readTree(ws.next().text());
            assertThat(pong.get("request_id").asText()).isEqualTo("f");
        }
    }

    @Test
    void theClientsCloseIsAnsweredAndTheSocketClosed() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.CLOSE, new byte[] {0x03, (byte) 0xE8, 'b', 'y', 'e'});
            assertThat(ws.closeFrame().closeCode()).isEqualTo(1000);
            assertThat(ws.socketClosedByServer()).isTrue();
        }
    }

    @Test
    void aCloseWithACodeNoPeerMaySendCloses1002() throws IOException {
        try (RawWsClient ws = authenticated()) {
            ws.frame(true, RawWsClient.CLOSE, new byte[] {0x03, (byte) 0xED}); // 1005
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void violationsBeforeAuthenticationAreClosedTheSameWay() throws IOException {
        try (RawWsClient ws = RawWsClient.open(CDC.server().port(), "/v1/ws", null)) {
            ws.frame(true, 0x3, new byte[0]);
            assertClosedWith(ws, 1002);
        }
    }

    @Test
    void theEndIsLoggedOnceWithTheConnectionIdWhetherAViolationOrAVanishedClient() throws IOException {
        String violating;
        try (RawWsClient ws = authenticated()) {
            violating = ws.connectionId();
            ws.frame(true, 0x3, new byte[0]);
            assertClosedWith(ws, 1002);
        }
        String vanished;
        try (RawWsClient ws = authenticated()) {
            vanished = ws.connectionId();
        } // the socket closes without a close frame
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            assertThat(closedLines(violating)).containsExactly("websocket connection closed (1002 reserved opcode 3)");
            assertThat(closedLines(vanished)).containsExactly("websocket connection closed (1006 connection lost)");
        });
    }

    private java.util.List<String> closedLines(String connectionId) {
        return log.log().lines().stream()
                .filter(e -> connectionId.equals(LogCapture.connectionId(e)))
                .filter(e -> e.getLoggerName().equals("io.cdcnotify.ws.WsEndpoint"))
                .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .filter(m -> m.contains("closed"))
                .toList();
    }

    private static RawWsClient authenticated() {
        return RawWsClient.authenticated(CDC.server().port(), CdcServer.ADMIN_KEY, 0);
    }

    private static void assertClosedWith(RawWsClient ws, int code) throws IOException {
        RawWsClient.Frame close = ws.closeFrame();
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
