package io.cdcnotify.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The WebSocket client of the tests for what no well-behaved client sends or does, on a plain socket with the frame
 * codec of RFC 6455 written out: reserved opcodes and bits, oversized or fragmented control frames, interleaved
 * messages, invalid UTF-8, raw bytes; a small receive buffer and no reading at all (a stuck reader, whose server
 * writer ends up blocked in a write); the server's frames one by one, and every byte it sent after the upgrade.
 * Client frames are masked as the RFC requires, so only what a test means to break is broken. The well-behaved
 * client is {@link WsTestClient}.
 */
public final class RawWsClient implements AutoCloseable {

    public static final int CONTINUATION = 0x0;
    public static final int TEXT = 0x1;
    public static final int BINARY = 0x2;
    public static final int CLOSE = 0x8;
    public static final int PING = 0x9;
    public static final int PONG = 0xA;

    /** The socket timeout of a read that names none. */
    public static final Duration WAIT = Duration.ofSeconds(10);

    private static final ObjectMapper JSON = new ObjectMapper();
    /** How much of what the server sent is kept for {@link #receivedText()}. */
    private static final int KEEP = 1 << 20;

    /** One server frame. */
    public record Frame(boolean fin, int opcode, byte[] payload) {
        public String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }

        /** A close frame's status code; 1005 when it has none. */
        public int closeCode() {
            return payload.length >= 2 ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : 1005;
        }

        /** A close frame's reason; empty when it has none. */
        public String closeReason() {
            return payload.length > 2 ? new String(payload, 2, payload.length - 2, StandardCharsets.UTF_8) : "";
        }
    }

    /** How a connection ended, as the client saw it. */
    public record Ending(int code, String reason, Duration after, boolean httpInStream) {
    }

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    /** The status line and headers of the upgrade's answer. */
    private final String head;
    /** The first {@link #KEEP} bytes read after the upgrade's headers, to check that no HTTP response hides there. */
    private final ByteArrayOutputStream received = new ByteArrayOutputStream();
    private String connectionId;

    /**
     * Connects, sends the upgrade request and reads its answer's headers, nothing after them.
     *
     * @param headers       extra request headers ({@code Authorization}, say)
     * @param receiveBuffer the socket's receive buffer in bytes (0: the default); small for a client that means not
     *                      to read
     * @throws IOException when the connection fails or the upgrade is refused (the message holds the answer)
     */
    private RawWsClient(int port, String pathAndQuery, Map<String, String> headers, int receiveBuffer)
            throws IOException {
        socket = RawHttp.connect("127.0.0.1", port, receiveBuffer, WAIT);
        try {
            in = new BufferedInputStream(socket.getInputStream());
            out = socket.getOutputStream();
            byte[] nonce = new byte[16];
            ThreadLocalRandom.current().nextBytes(nonce);
            StringBuilder request = new StringBuilder()
                    .append("GET ").append(pathAndQuery).append(" HTTP/1.1\r\n")
                    .append("Host: 127.0.0.1:").append(port).append("\r\n")
                    .append("Upgrade: websocket\r\nConnection: Upgrade\r\n")
                    .append("Sec-WebSocket-Key: ").append(Base64.getEncoder().encodeToString(nonce)).append("\r\n")
                    .append("Sec-WebSocket-Version: 13\r\n");
            headers.forEach((k, v) -> request.append(k).append(": ").append(v).append("\r\n"));
            out.write(request.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
            head = RawHttp.readHead(in);
            if (!head.startsWith("HTTP/1.1 101")) {
                throw new IOException("upgrade refused: " + head);
            }
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    /** Upgrades {@code pathAndQuery} with these request headers. */
    public static RawWsClient open(int port, String pathAndQuery, Map<String, String> headers, int receiveBuffer)
            throws IOException {
        return new RawWsClient(port, pathAndQuery, headers, receiveBuffer);
    }

    /** Upgrades {@code path} with an {@code Authorization: Bearer} key (none when null). */
    public static RawWsClient open(int port, String path, String bearer) throws IOException {
        return open(port, path, bearer(bearer), 0);
    }

    /**
     * A client that means not to read: {@code /v1/ws} with the key in the header, a receive buffer of
     * {@code receiveBuffer} bytes, and nothing read after the {@code 101}.
     */
    public static RawWsClient stuck(CdcServer server, String key, int receiveBuffer) {
        try {
            return open(server.port(), "/v1/ws", bearer(key), receiveBuffer);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * {@code /v1/ws} on {@code port} with the key in the header, once {@code auth_ok} is read (its connection id in
     * {@link #connectionId()}); a small {@code receiveBuffer} (0: the default) for a client that means to stop
     * reading then.
     */
    public static RawWsClient authenticated(int port, String key, int receiveBuffer) {
        RawWsClient ws;
        try {
            ws = open(port, "/v1/ws", bearer(key), receiveBuffer);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        try {
            ws.expectAuthOk();
            return ws;
        } catch (RuntimeException | AssertionError e) {
            ws.close();
            throw e;
        }
    }

    private static Map<String, String> bearer(String key) {
        Map<String, String> headers = new LinkedHashMap<>();
        if (key != null) {
            headers.put("Authorization", "Bearer " + key);
        }
        return headers;
    }

    /** What the upgrade answered: the status line and headers. */
    public String head() {
        return head;
    }

    /** The local port of this connection, as the server sees it. */
    public int localPort() {
        return socket.getLocalPort();
    }

    // ---- writing

    /** One masked frame's bytes; {@code rsv} is the three RSV bits (0 for a valid frame). */
    public static byte[] encode(boolean fin, int rsv, int opcode, byte[] payload) {
        ByteArrayOutputStream b = new ByteArrayOutputStream(payload.length + 14);
        b.write((fin ? 0x80 : 0) | (rsv & 0x7) << 4 | (opcode & 0x0f));
        int n = payload.length;
        if (n < 126) {
            b.write(0x80 | n);
        } else if (n < 65_536) {
            b.write(0x80 | 126);
            b.write(n >>> 8);
            b.write(n & 0xff);
        } else {
            b.write(0x80 | 127);
            for (int shift = 56; shift >= 0; shift -= 8) {
                b.write((int) ((long) n >>> shift) & 0xff);
            }
        }
        byte[] mask = new byte[4];
        ThreadLocalRandom.current().nextBytes(mask);
        b.writeBytes(mask);
        for (int i = 0; i < n; i++) {
            b.write(payload[i] ^ mask[i & 3]);
        }
        return b.toByteArray();
    }

    /** Writes one masked frame. */
    public void frame(boolean fin, int opcode, byte[] payload) throws IOException {
        raw(encode(fin, 0, opcode, payload));
    }

    /** Writes one masked frame with the reserved bits {@code rsv} (0 to 7) set. */
    public void frame(boolean fin, int rsv, int opcode, byte[] payload) throws IOException {
        raw(encode(fin, rsv, opcode, payload));
    }

    /** Writes bytes as they are (several frames at once, or a deliberately broken one). */
    public void raw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /** Sends a text frame. */
    public void text(String text) throws IOException {
        frame(true, TEXT, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends a message as a JSON text frame. */
    public void send(Map<String, ?> message) throws IOException {
        frame(true, TEXT, JSON.writeValueAsBytes(message));
    }

    /** Sends a ping control frame (a valid one has up to 125 bytes). */
    public void ping(byte[] payload) throws IOException {
        frame(true, PING, payload);
    }

    /**
     * Writes {@code frame} again and again, 64 copies a write, as fast as the socket takes them, on a thread of its
     * own, and reads nothing: a flood, which ends when the server cuts the connection (a write fails), after
     * {@code atMost}, or at {@link Flood#stop()}.
     */
    public Flood flood(byte[] frame, Duration atMost) {
        return new Flood(frame, atMost);
    }

    /** A flood under way: see {@link #flood}. */
    public final class Flood {
        private static final int COPIES = 64;
        private final AtomicBoolean flooding = new AtomicBoolean(true);
        private final AtomicLong sent = new AtomicLong();
        private final Thread thread;
        private volatile boolean cut;

        private Flood(byte[] frame, Duration atMost) {
            byte[] burst = new byte[frame.length * COPIES];
            for (int i = 0; i < COPIES; i++) {
                System.arraycopy(frame, 0, burst, i * frame.length, frame.length);
            }
            long until = System.nanoTime() + atMost.toNanos();
            thread = Thread.ofVirtual().name("flood").start(() -> {
                try {
                    while (flooding.get() && System.nanoTime() < until) {
                        raw(burst);
                        sent.addAndGet(COPIES);
                    }
                } catch (IOException e) {
                    cut = true; // the server closed the connection under us
                }
            });
        }

        /** The frames written so far. */
        public long sent() {
            return sent.get();
        }

        /** Whether a write failed: the server cut the connection. */
        public boolean cut() {
            return cut;
        }

        /** Stops flooding and waits (up to {@link #WAIT}) for the last write to return. */
        public void stop() throws InterruptedException {
            flooding.set(false);
            thread.join(WAIT);
        }
    }

    // ---- reading

    /** The next frame within {@link #WAIT}; an {@link EOFException} when the connection ended. */
    public Frame next() throws IOException {
        return next(WAIT);
    }

    /** The next frame, or a {@link SocketTimeoutException} after {@code wait}; an {@link EOFException} at the end. */
    public Frame next(Duration wait) throws IOException {
        socket.setSoTimeout((int) Math.max(1, wait.toMillis()));
        int b0 = read();
        int b1 = read();
        long n = b1 & 0x7f;
        if (n == 126) {
            n = (read() << 8) | read();
        } else if (n == 127) {
            n = 0;
            for (int i = 0; i < 8; i++) {
                n = (n << 8) | read();
            }
        }
        if ((b1 & 0x80) != 0) {
            throw new AssertionError("the server masked a frame");
        }
        if (n > 64L << 20) {
            throw new AssertionError("a server frame of " + n + " bytes");
        }
        byte[] payload = in.readNBytes((int) n);
        if (payload.length < n) {
            throw new EOFException("the connection ended inside a frame");
        }
        keep(payload, payload.length);
        return new Frame((b0 & 0x80) != 0, b0 & 0x0f, payload);
    }

    private int read() throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException();
        }
        if (received.size() < KEEP) {
            received.write(b);
        }
        return b;
    }

    private void keep(byte[] bytes, int n) {
        int room = KEEP - received.size();
        if (room > 0) {
            received.write(bytes, 0, Math.min(room, n));
        }
    }

    /** The next frame that is not text: skips the server's messages (auth_ok, events). */
    public Frame nextControl() throws IOException {
        Frame f;
        do {
            f = next();
        } while (f.opcode() == TEXT || f.opcode() == CONTINUATION);
        return f;
    }

    /** The close frame that ends the connection, skipping what comes before it. */
    public Frame closeFrame() throws IOException {
        Frame f;
        do {
            f = next();
        } while (f.opcode() != CLOSE);
        return f;
    }

    /** The next text frame as JSON, skipping control frames; a close frame fails. */
    public JsonNode nextJson(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        try {
            while (true) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                Frame f = next(Duration.ofMillis(left));
                if (f.opcode() == TEXT) {
                    return JSON.readTree(f.text());
                }
                if (f.opcode() == CLOSE) {
                    throw new AssertionError("closed " + f.closeCode() + " " + f.closeReason());
                }
            }
        } catch (IOException e) {
            throw new AssertionError("no message within " + wait + ": " + e);
        }
    }

    /** Reads {@code auth_ok} and returns it; its connection id is {@link #connectionId()} then. */
    public JsonNode expectAuthOk() {
        JsonNode ok = nextJson(WAIT);
        if (!"auth_ok".equals(ok.path("type").asText())) {
            throw new AssertionError("expected auth_ok, got " + ok);
        }
        connectionId = ok.path("connection_id").asText();
        return ok;
    }

    /** The connection id of the {@code auth_ok} read, for the server's log lines. */
    public String connectionId() {
        if (connectionId == null) {
            throw new IllegalStateException("no auth_ok read yet");
        }
        return connectionId;
    }

    /**
     * Reads until a close frame or the end of the connection: the close code (1006 when the connection ended
     * without one), the reason, the time it took, and whether an HTTP status line showed up among the frames.
     */
    public Ending awaitClose(Duration wait) {
        long start = System.nanoTime();
        long deadline = start + wait.toNanos();
        int code = 1006;
        String reason = "";
        try {
            while (true) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw new AssertionError("the connection was not closed within " + wait);
                }
                Frame f = next(Duration.ofMillis(left));
                if (f.opcode() == CLOSE) {
                    code = f.closeCode();
                    reason = f.closeReason();
                    break;
                }
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the connection was not closed within " + wait);
        } catch (IOException e) {
            // ended without a close frame (EOF or reset)
        }
        return new Ending(code, reason, Duration.ofNanos(System.nanoTime() - start), httpInStream());
    }

    /**
     * Reads and throws away what the server sent until the connection ends, for up to {@code wait}; returns
     * the close frame's code if one came, 1006 if the connection ended without one, -1 if it did not end.
     */
    public int drainToEnd(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        int code = 1006;
        try {
            while (System.nanoTime() < deadline) {
                Frame f = next(Duration.ofMillis(Math.max(1, (deadline - System.nanoTime()) / 1_000_000)));
                if (f.opcode() == CLOSE) {
                    code = f.closeCode();
                }
            }
            return -1;
        } catch (SocketTimeoutException e) {
            return -1;
        } catch (IOException e) {
            return code;
        }
    }

    /**
     * Reads (at last) everything the server wrote, as bytes, until the connection ends or {@code within} passes:
     * true when the server closed it (end of stream or reset). Reading lets a stuck writer go on, so ask this only
     * once the server should be done.
     */
    public boolean closedByServer(Duration within) {
        return RawHttp.drainUntilClosed(socket, in, within, this::keep);
    }

    /** Ends our sending side (a TCP half-close): the server reads the end of our stream. */
    public void shutdownOutput() throws IOException {
        socket.shutdownOutput();
    }

    /**
     * True when the server ended the TCP connection within {@link #WAIT} with an end of stream; false when it did
     * not end it, or reset it (closed it with bytes of ours unread, which can destroy what it wrote last).
     */
    public boolean socketEndedWithoutReset() {
        return RawHttp.drain(socket, in, WAIT, this::keep) == RawHttp.End.END_OF_STREAM;
    }


    /** True when the server closed the TCP connection within {@link #WAIT}. */
    public boolean socketClosedByServer() {
        return closedByServer(WAIT);
    }

    /** The bytes received after the upgrade's headers (the first MiB), as ISO-8859-1 text. */
    public String receivedText() {
        return received.toString(StandardCharsets.ISO_8859_1);
    }

    /** Whether the bytes read so far hold an HTTP status line: a response written into the frame stream. */
    public boolean httpInStream() {
        return receivedText().contains("HTTP/1.");
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // already gone
        }
    }
}
