package io.cdcnotify.contract;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

import io.cdcnotify.testing.CdcServer;

/**
 * An SSE stream read over a plain socket, for what the parsing {@code SseTestClient} hides: the exact bytes on
 * the wire (line ends, the {@code retry} line, comment lines), the time they arrived, and a reader that does not
 * read at all until told to (a slow consumer). HTTP/1.1; a chunked body is de-chunked.
 */
final class RawSse implements AutoCloseable {

    private final Socket socket;
    private final InputStream in;
    private final int status;
    private final Map<String, String> headers;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ByteArrayOutputStream body = new ByteArrayOutputStream();
    private boolean ended;
    private boolean reading;
    private boolean paused;

    private RawSse(Socket socket, InputStream in, int status, Map<String, String> headers) {
        this.socket = socket;
        this.in = in;
        this.status = status;
        this.headers = headers;
    }

    /** Opens a stream and starts reading it at once. */
    static RawSse open(CdcServer server, String pathAndQuery, Map<String, String> requestHeaders) {
        RawSse sse = connect(server, pathAndQuery, requestHeaders, 0);
        sse.startReading();
        return sse;
    }

    /**
     * Opens a stream and reads only the status line and headers; the body waits in the socket until
     * {@link #startReading()}.
     *
     * @param receiveBuffer the socket's receive buffer in bytes, 0 for the default
     */
    static RawSse connect(CdcServer server, String pathAndQuery, Map<String, String> requestHeaders, int receiveBuffer) {
        try {
            Socket socket = new Socket();
            if (receiveBuffer > 0) {
                socket.setReceiveBufferSize(receiveBuffer);
            }
            socket.connect(new InetSocketAddress("127.0.0.1", server.port()), 10_000);
            socket.setSoTimeout(60_000);
            StringBuilder request = new StringBuilder()
                    .append("GET ").append(pathAndQuery).append(" HTTP/1.1\r\n")
                    .append("Host: 127.0.0.1:").append(server.port()).append("\r\n")
                    .append("Accept: text/event-stream\r\n");
            requestHeaders.forEach((k, v) -> request.append(k).append(": ").append(v).append("\r\n"));
            request.append("\r\n");
            OutputStream out = socket.getOutputStream();
            out.write(request.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = socket.getInputStream();
            String head = readHead(in);
            String[] lines = head.split("\r\n");
            int status = Integer.parseInt(lines[0].split(" ")[1]);
            Map<String, String> headers = new LinkedHashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon > 0) {
                    headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
                                lines[i].substring(colon + 1).trim());
                }
            }
            return new RawSse(socket, in, status, headers);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    int status() {
        return status;
    }

    /** A response header, by case-insensitive name, or null. */
    String header(String name) {
        return headers.get(name.toLowerCase(Locale.ROOT));
    }

    void startReading() {
        lock.lock();
        try {
            if (reading) {
                return;
            }
            reading = true;
        } finally {
            lock.unlock();
        }
        Thread.ofVirtual().name("raw-sse-reader").start(this::read);
    }

    /** Stops reading from the socket after what is being read now: the server's writes pile up. */
    void pause() {
        lock.lock();
        try {
            paused = true;
        } finally {
            lock.unlock();
        }
    }

    /** Reads again. */
    void resume() {
        lock.lock();
        try {
            paused = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private void whilePaused() throws InterruptedException {
        lock.lock();
        try {
            while (paused) {
                changed.await();
            }
        } finally {
            lock.unlock();
        }
    }

    /** The body received so far, decoded as UTF-8. */
    String text() {
        lock.lock();
        try {
            return body.toString(StandardCharsets.UTF_8);
        } finally {
            lock.unlock();
        }
    }

    /** Waits until the body so far satisfies {@code done}, and returns it. */
    String await(Predicate<String> done, Duration wait, String what) {
        long deadline = System.nanoTime() + wait.toNanos();
        lock.lock();
        try {
            while (true) {
                String text = body.toString(StandardCharsets.UTF_8);
                if (done.test(text)) {
                    return text;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || ended) {
                    throw new AssertionError((ended ? "stream ended" : "timed out after " + wait) + " waiting for "
                                                     + what + "; received:\n" + text);
                }
                changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } finally {
            lock.unlock();
        }
    }

    /** Waits until {@code text} appears at or after {@code from}; returns its index. */
    int awaitIndexOf(String text, int from, Duration wait) {
        String all = await(t -> t.indexOf(text, from) >= 0, wait, "\"" + text.replace("\n", "\\n") + "\"");
        return all.indexOf(text, from);
    }

    /** Waits for the server to end the body (the last chunk, or the connection closed). */
    void awaitEnd(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        lock.lock();
        try {
            while (!ended) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("the stream did not end within " + wait + "; received:\n" + text());
                }
                changed.await(left, TimeUnit.NANOSECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } finally {
            lock.unlock();
        }
    }

    boolean ended() {
        lock.lock();
        try {
            return ended;
        } finally {
            lock.unlock();
        }
    }

    private void read() {
        try {
            String te = header("Transfer-Encoding");
            String length = header("Content-Length");
            if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
                while (true) {
                    whilePaused();
                    String sizeLine = readLine(in);
                    if (sizeLine == null) {
                        return;
                    }
                    int semi = sizeLine.indexOf(';');
                    int size = Integer.parseInt((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
                    if (size == 0) {
                        return;
                    }
                    byte[] chunk = in.readNBytes(size);
                    append(chunk, chunk.length);
                    if (chunk.length < size) {
                        return;
                    }
                    readLine(in); // the CRLF after the chunk
                }
            } else if (length != null) {
                byte[] all = in.readNBytes(Integer.parseInt(length));
                append(all, all.length);
            } else {
                byte[] buffer = new byte[8192];
                int n;
                while (true) {
                    whilePaused();
                    if ((n = in.read(buffer)) <= 0) {
                        break;
                    }
                    append(buffer, n);
                }
            }
        } catch (IOException | RuntimeException e) {
            // the stream was cut
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.lock();
            try {
                ended = true;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private void append(byte[] bytes, int n) {
        lock.lock();
        try {
            body.write(bytes, 0, n);
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        while (matched < 4) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("connection closed in the response head: " + head);
            }
            head.write(b);
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        int b;
        while ((b = in.read()) >= 0) {
            if (b == '\n') {
                int len = line.length();
                return len > 0 && line.charAt(len - 1) == '\r' ? line.substring(0, len - 1) : line.toString();
            }
            line.append((char) b);
        }
        return line.isEmpty() ? null : line.toString();
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
