package io.cdcnotify.testing;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.nio.charset.StandardCharsets;

/**
 * What the clients on a plain socket ({@link RawWsClient}, {@link SseTestClient}) share: the connection with the
 * receive buffer a client that means not to read asks for, the head of the server's answer, and the drain of a
 * client that did not read, which only ends when the server closes.
 */
final class RawHttp {

    /** What {@link #drainUntilClosed} hands on: the bytes read, as they come. */
    interface Sink {
        void take(byte[] bytes, int n);
    }

    private RawHttp() {
    }

    /**
     * A connected socket with a read timeout of {@code readTimeout}.
     *
     * @param receiveBuffer the socket's receive buffer in bytes (0: the default); small for a client that means
     *                      not to read
     */
    static Socket connect(String host, int port, int receiveBuffer, Duration readTimeout) throws IOException {
        Socket socket = new Socket();
        try {
            if (receiveBuffer > 0) {
                socket.setReceiveBufferSize(receiveBuffer);
            }
            socket.connect(new InetSocketAddress(host, port), 10_000);
            socket.setSoTimeout((int) readTimeout.toMillis());
            return socket;
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
    }

    /** The status line and headers of an answer, up to and with the blank line; nothing after it is read. */
    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("connection closed in the response head: "
                                       + head.toString(StandardCharsets.ISO_8859_1));
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
            if (head.size() > 16_384) {
                throw new IOException("response head too long");
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    /** How a connection ended while {@link #drain} read it. */
    enum End {
        /** The server closed it: an end of stream. */
        END_OF_STREAM,
        /** The server closed it with bytes of ours unread: a reset, which can destroy what it wrote last. */
        RESET,
        /** It did not end within the time given. */
        OPEN
    }

    /**
     * Reads (at last) everything the server wrote, handing it to {@code sink}, until the connection ends or
     * {@code within} passes: true when the server closed it (end of stream or reset).
     */
    static boolean drainUntilClosed(Socket socket, InputStream in, Duration within, Sink sink) {
        return drain(socket, in, within, sink) != End.OPEN;
    }

    /**
     * Reads everything the server wrote, handing it to {@code sink}, until the connection ends or {@code within}
     * passes.
     */
    static End drain(Socket socket, InputStream in, Duration within, Sink sink) {
        long deadline = System.nanoTime() + within.toNanos();
        byte[] buffer = new byte[64 * 1024];
        try {
            while (System.nanoTime() < deadline) {
                socket.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                int n = in.read(buffer);
                if (n < 0) {
                    return End.END_OF_STREAM;
                }
                sink.take(buffer, n);
            }
            return End.OPEN;
        } catch (SocketTimeoutException e) {
            return End.OPEN;
        } catch (IOException e) {
            return End.RESET;
        }
    }
}
