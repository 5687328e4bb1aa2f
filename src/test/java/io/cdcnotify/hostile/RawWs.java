package io.cdcnotify.hostile;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A WebSocket client on a plain socket that writes whatever frames a test asks for (reserved opcodes, invalid
 * UTF-8, fragmented control frames) and reads the server's frames one by one, or does not read at all: the
 * attacker of the hostile suite. Client frames are masked as RFC 6455 requires, so only what a test means to
 * break is broken.
 */
final class RawWs implements AutoCloseable {

    static final int TEXT = 1;
    static final int BINARY = 2;
    static final int CONTINUATION = 0;
    static final int CLOSE = 8;
    static final int PING = 9;
    static final int PONG = 10;

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    /** Every byte read after the upgrade's headers, to check that no HTTP response hides in the stream. */
    private final ByteArrayOutputStream seen = new ByteArrayOutputStream();

    /** One server frame. */
    record Frame(boolean fin, int opcode, byte[] payload) {
        String text() {
            return new String(payload, StandardCharsets.UTF_8);
        }

        /** A close frame's status code; 1005 when it has none. */
        int closeCode() {
            return payload.length >= 2 ? ((payload[0] & 0xff) << 8) | (payload[1] & 0xff) : 1005;
        }
    }

    private RawWs(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new BufferedInputStream(socket.getInputStream());
        this.out = socket.getOutputStream();
    }

    /**
     * Opens a WebSocket with the key in the header and reads the upgrade response.
     *
     * @param receiveBuffer the socket's receive buffer in bytes (0: the default); small for a client that
     *                      means not to read
     */
    static RawWs open(ChildService service, String key, int receiveBuffer) {
        try {
            Socket socket = new Socket();
            if (receiveBuffer > 0) {
                socket.setReceiveBufferSize(receiveBuffer);
            }
            socket.connect(new InetSocketAddress("127.0.0.1", service.port()), 5_000);
            socket.setSoTimeout(10_000);
            RawWs ws = new RawWs(socket);
            byte[] nonce = new byte[16];
            ThreadLocalRandom.current().nextBytes(nonce);
            String request = "GET /v1/ws HTTP/1.1\r\n"
                    + "Host: 127.0.0.1:" + service.port() + "\r\n"
                    + "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: " + Base64.getEncoder().encodeToString(nonce) + "\r\n"
                    + "Sec-WebSocket-Version: 13\r\n"
                    + "Authorization: Bearer " + key + "\r\n\r\n";
            ws.out.write(request.getBytes(StandardCharsets.US_ASCII));
            ws.out.flush();
            String head = ws.readHead();
            if (!head.startsWith("HTTP/1.1 101")) {
                socket.close();
                throw new AssertionError("upgrade refused: " + head.lines().findFirst().orElse(head));
            }
            return ws;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Opens, then reads {@code auth_ok} and returns the connection id through {@link #connectionId}. */
    static RawWs authenticated(ChildService service, String key, int receiveBuffer) {
        RawWs ws = open(service, key, receiveBuffer);
        JsonNode ok = ws.nextJson(Duration.ofSeconds(10));
        if (!"auth_ok".equals(ok.path("type").asText())) {
            throw new AssertionError("expected auth_ok, got " + ok);
        }
        ws.connectionId = ok.path("connection_id").asText();
        return ws;
    }

    String connectionId;

    private String readHead() throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("connection closed during the upgrade: " + head);
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
            if (head.size() > 16_384) {
                throw new IOException("upgrade response too long");
            }
        }
        return head.toString(StandardCharsets.US_ASCII);
    }

    /** The local port of this connection, as the server sees it. */
    int localPort() {
        return socket.getLocalPort();
    }

    // ---- writing

    /** Writes one masked frame. */
    void frame(boolean fin, int opcode, byte[] payload) throws IOException {
        out.write(encode(fin, 0, opcode, payload));
        out.flush();
    }

    void text(String text) throws IOException {
        frame(true, TEXT, text.getBytes(StandardCharsets.UTF_8));
    }

    /** One masked frame's bytes; {@code rsv} is the three RSV bits (0 for a valid frame). */
    static byte[] encode(boolean fin, int rsv, int opcode, byte[] payload) {
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

    /** Writes bytes as they are (several frames at once, or a deliberately broken one). */
    void raw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    // ---- reading

    /** The next frame, or fails after {@code wait}; an {@link EOFException} when the connection ended. */
    Frame next(Duration wait) throws IOException {
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
        byte[] payload = new byte[(int) n];
        for (int i = 0; i < n; i++) {
            payload[i] = (byte) read();
        }
        return new Frame((b0 & 0x80) != 0, b0 & 0x0f, payload);
    }

    private int read() throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException();
        }
        if (seen.size() < 1 << 20) {
            seen.write(b);
        }
        return b;
    }

    /** The next text frame as JSON, skipping pongs. */
    JsonNode nextJson(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        try {
            while (true) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                Frame f = next(Duration.ofMillis(left));
                if (f.opcode() == TEXT) {
                    return ChildService.json(f.text());
                }
                if (f.opcode() == CLOSE) {
                    throw new AssertionError("closed " + f.closeCode() + " " + new String(f.payload(), 2,
                            Math.max(0, f.payload().length - 2), StandardCharsets.UTF_8));
                }
            }
        } catch (IOException e) {
            throw new AssertionError("no message within " + wait + ": " + e);
        }
    }

    /** How a connection ended, as the client saw it. */
    record Ending(int code, String reason, Duration after, boolean httpInStream) {
    }

    /**
     * Reads until a close frame or the end of the connection: the close code (1006 when the connection ended
     * without one), the reason, the time it took, and whether an HTTP status line showed up among the frames.
     */
    Ending awaitClose(Duration wait) {
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
                    reason = f.payload().length > 2
                            ? new String(f.payload(), 2, f.payload().length - 2, StandardCharsets.UTF_8) : "";
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
    int drainToEnd(Duration wait) {
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

    /** Whether the bytes read so far hold an HTTP status line: a response written into the frame stream. */
    boolean httpInStream() {
        return seen.toString(StandardCharsets.ISO_8859_1).contains("HTTP/1.");
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
