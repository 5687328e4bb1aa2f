package io.cdcnotify.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A client that stops reading, over a plain socket with a small receive buffer: once the server has filled the
 * socket buffers, its writer is stuck in a write. It opens a WebSocket (and may subscribe and flood pings) or an
 * SSE stream, then reads nothing until a test asks whether the server closed the connection.
 */
public final class StuckClient implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    /** What the handshake's response held past its headers. */
    private final String head;

    private StuckClient(Socket socket, String head) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = socket.getOutputStream();
        this.head = head;
    }

    /** A WebSocket authenticated by header; the {@code 101} read, nothing after it. */
    public static StuckClient webSocket(CdcServer server, String key, int receiveBuffer) {
        String request = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: " + Base64.getEncoder().encodeToString(new byte[16]) + "\r\n"
                + "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + key + "\r\n\r\n";
        StuckClient c = open(server, request, receiveBuffer);
        if (!c.head.startsWith("HTTP/1.1 101")) {
            throw new IllegalStateException("no upgrade: " + c.head);
        }
        return c;
    }

    /** An SSE stream; the status line and headers read, not the body. */
    public static StuckClient sse(CdcServer server, String pathAndQuery, String key, int receiveBuffer) {
        String request = "GET " + pathAndQuery + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                + "Authorization: Bearer " + key + "\r\n\r\n";
        StuckClient c = open(server, request, receiveBuffer);
        if (!c.head.startsWith("HTTP/1.1 200")) {
            throw new IllegalStateException("no stream: " + c.head);
        }
        return c;
    }

    private static StuckClient open(CdcServer server, String request, int receiveBuffer) {
        try {
            Socket s = new Socket();
            if (receiveBuffer > 0) {
                s.setReceiveBufferSize(receiveBuffer);
            }
            s.connect(new InetSocketAddress("127.0.0.1", server.port()), 5_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) {
                    throw new IOException("closed during the handshake: " + head.toString(StandardCharsets.ISO_8859_1));
                }
                head.write(b);
            }
            return new StuckClient(s, head.toString(StandardCharsets.ISO_8859_1));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Sends a WebSocket text frame (masked, as a client must). */
    public void text(Object message) throws IOException {
        frame(0x1, JSON.writeValueAsBytes(message));
    }

    /** Sends a WebSocket ping control frame with a payload of up to 125 bytes. */
    public void ping(byte[] payload) throws IOException {
        frame(0x9, payload);
    }

    private void frame(int opcode, byte[] payload) throws IOException {
        ByteArrayOutputStream f = new ByteArrayOutputStream(payload.length + 14);
        f.write(0x80 | opcode);
        if (payload.length < 126) {
            f.write(0x80 | payload.length);
        } else if (payload.length < 65_536) {
            f.write(0x80 | 126);
            f.write(payload.length >>> 8);
            f.write(payload.length & 0xff);
        } else {
            f.write(0x80 | 127);
            for (int i = 7; i >= 0; i--) {
                f.write((int) ((long) payload.length >>> (8 * i)) & 0xff);
            }
        }
        byte[] mask = new byte[4];
        ThreadLocalRandom.current().nextBytes(mask);
        f.write(mask);
        for (int i = 0; i < payload.length; i++) {
            f.write(payload[i] ^ mask[i & 3]);
        }
        out.write(f.toByteArray());
        out.flush();
    }

    /**
     * Reads (at last) everything the server wrote, until the connection ends or {@code within} passes: true when
     * the server closed it. Reading lets a stuck writer go on, so ask this only once the server should be done.
     */
    public boolean closedByServer(Duration within) {
        long deadline = System.nanoTime() + within.toNanos();
        byte[] buffer = new byte[64 * 1024];
        try {
            while (System.nanoTime() < deadline) {
                socket.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                if (in.read(buffer) < 0) {
                    return true;
                }
            }
            return false;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (SocketException e) {
            return true; // reset: closed with data unread
        } catch (IOException e) {
            return true;
        }
    }

    /** What the handshake answered: the status line and headers. */
    public String head() {
        return head;
    }

    /** Parses a JSON text (for callers building frames). */
    public static JsonNode json(String text) throws IOException {
        return JSON.readTree(text);
    }

    @Override
    public void close() {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
