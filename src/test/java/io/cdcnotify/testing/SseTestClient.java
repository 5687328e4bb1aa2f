package io.cdcnotify.testing;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The SSE client of the tests, HTTP/1.1 over a plain socket (a chunked body is de-chunked). It offers the stream
 * two ways at once: parsed as the SSE spec says (fields, comments, the blank line that ends a message) into a queue
 * of {@link Event}s, comments ({@code : keepalive}) queued as events {@code ":comment"}; and as the exact bytes on
 * the wire ({@link #text()}: line ends, the {@code retry} line, comment lines), for the tests of the format itself.
 * It can stop reading ({@link #pause()}) or not read at all ({@link #stuck}, a small receive buffer and only the
 * response headers read), which is how a test makes a slow or a stuck consumer.
 */
public final class SseTestClient implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    public static final Duration WAIT = Duration.ofSeconds(10);

    /** One SSE message: the {@code id}, {@code event} and joined {@code data} fields, and {@code retry} if any. */
    public record Event(String id, String event, String data, String retry) {
        public JsonNode json() {
            try {
                return JSON.readTree(data);
            } catch (IOException e) {
                throw new AssertionError("data is not JSON: " + data, e);
            }
        }
    }

    private final Socket socket;
    private final InputStream in;
    private final int status;
    private final Map<String, String> headers;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** The de-chunked body as received. */
    private final ByteArrayOutputStream body = new ByteArrayOutputStream();
    private final Parser parser = new Parser();
    private boolean ended;
    private boolean reading;
    private boolean paused;

    private SseTestClient(Socket socket, InputStream in, int status, Map<String, String> headers) {
        this.socket = socket;
        this.in = in;
        this.status = status;
        this.headers = headers;
    }

    public static SseTestClient open(URI uri) {
        return open(uri, Map.of());
    }

    /**
     * Opens a stream and reads it: a refused one (not 200) to its end before this returns, so that {@link #body()}
     * is whole; a stream on a reader thread.
     */
    public static SseTestClient open(URI uri, Map<String, String> requestHeaders) {
        URI ascii = URI.create(uri.toASCIIString());
        String pathAndQuery = ascii.getRawPath() + (ascii.getRawQuery() == null ? "" : "?" + ascii.getRawQuery());
        SseTestClient client = connect(ascii.getHost(), ascii.getPort(), pathAndQuery, requestHeaders, 0);
        if (client.status == 200) {
            client.startReading();
        } else {
            client.reading = true;
            client.read();
        }
        return client;
    }

    /** Opens {@code pathAndQuery} of a server and reads it. */
    public static SseTestClient open(CdcServer server, String pathAndQuery, Map<String, String> requestHeaders) {
        return open(server.http(pathAndQuery), requestHeaders);
    }

    /** Opens a stream of tables with the key in the header and waits for {@code subscribed}. */
    public static SseTestClient subscribed(CdcServer server, String key, String tables) {
        SseTestClient client = open(server.http("/v1/events?tables=" + tables), Map.of("Authorization", "Bearer " + key));
        if (client.status() != 200) {
            throw new AssertionError("stream refused: " + client.status() + " " + client.body());
        }
        client.expect("subscribed");
        return client;
    }

    /**
     * Opens a stream and reads only the status line and headers; the body waits in the socket until
     * {@link #startReading()}.
     *
     * @param receiveBuffer the socket's receive buffer in bytes, 0 for the default
     */
    public static SseTestClient connect(CdcServer server, String pathAndQuery, Map<String, String> requestHeaders,
                                        int receiveBuffer) {
        return connect("127.0.0.1", server.port(), pathAndQuery, requestHeaders, receiveBuffer);
    }

    /**
     * A client that means not to read: a stream with the key in the header, a receive buffer of
     * {@code receiveBuffer} bytes (0: the default), its headers read and nothing else until
     * {@link #closedByServer}.
     */
    public static SseTestClient stuck(CdcServer server, String pathAndQuery, String key, int receiveBuffer) {
        return stuck(server.port(), pathAndQuery, key, receiveBuffer);
    }

    /** {@link #stuck(CdcServer, String, String, int)} on a server known by its port (one in a child JVM, say). */
    public static SseTestClient stuck(int port, String pathAndQuery, String key, int receiveBuffer) {
        SseTestClient c = connect("127.0.0.1", port, pathAndQuery, Map.of("Authorization", "Bearer " + key),
                                  receiveBuffer);
        if (c.status != 200) {
            c.close();
            throw new IllegalStateException("no stream: " + c.status + " " + c.headers);
        }
        return c;
    }

    private static SseTestClient connect(String host, int port, String pathAndQuery,
                                         Map<String, String> requestHeaders, int receiveBuffer) {
        Socket socket = null;
        try {
            socket = RawHttp.connect(host, port, receiveBuffer, WAIT);
            StringBuilder request = new StringBuilder()
                    .append("GET ").append(pathAndQuery).append(" HTTP/1.1\r\n")
                    .append("Host: ").append(host).append(':').append(port).append("\r\n")
                    .append("Accept: text/event-stream\r\n");
            requestHeaders.forEach((k, v) -> request.append(k).append(": ").append(v).append("\r\n"));
            request.append("\r\n");
            OutputStream out = socket.getOutputStream();
            out.write(request.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            String head = RawHttp.readHead(in);
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
            return new SseTestClient(socket, in, status, headers);
        } catch (IOException e) {
            if (socket != null) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
            throw new AssertionError(e);
        }
    }

    public int status() {
        return status;
    }

    /** A response header, by case-insensitive name, or null. */
    public String header(String name) {
        return headers.get(name.toLowerCase(Locale.ROOT));
    }

    /** The body of a refused stream. */
    public String body() {
        return text();
    }

    public JsonNode bodyJson() {
        try {
            return JSON.readTree(body());
        } catch (IOException e) {
            throw new AssertionError("body is not JSON: " + body(), e);
        }
    }

    // ---- the stream as parsed messages

    public Event next() {
        return next(WAIT);
    }

    public Event next(Duration wait) {
        try {
            Event e = events.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
            if (e == null) {
                throw new AssertionError("no SSE message within " + wait);
            }
            return e;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new AssertionError(ex);
        }
    }

    /** The next message that is not a comment, which must be of this event type. */
    public Event expect(String event) {
        Event e = next();
        while (":comment".equals(e.event())) {
            e = next();
        }
        if (!event.equals(e.event())) {
            throw new AssertionError("expected " + event + " but got " + e);
        }
        return e;
    }

    /** Collects {@code n} {@code cdc_event} messages, skipping comments. */
    public List<Event> events(int n, Duration wait) {
        List<Event> got = new ArrayList<>(n);
        long deadline = System.nanoTime() + wait.toNanos();
        while (got.size() < n) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("got " + got.size() + " of " + n + " events within " + wait);
            }
            Event e = next(Duration.ofNanos(left));
            if (":comment".equals(e.event())) {
                continue;
            }
            if (!"cdc_event".equals(e.event())) {
                throw new AssertionError("expected an event but got " + e);
            }
            got.add(e);
        }
        return got;
    }

    // ---- the stream as bytes

    /** The body received so far, decoded as UTF-8. */
    public String text() {
        lock.lock();
        try {
            return body.toString(StandardCharsets.UTF_8);
        } finally {
            lock.unlock();
        }
    }

    /** Waits until the body so far satisfies {@code done}, and returns it. */
    public String await(Predicate<String> done, Duration wait, String what) {
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
    public int awaitIndexOf(String text, int from, Duration wait) {
        String all = await(t -> t.indexOf(text, from) >= 0, wait, "\"" + text.replace("\n", "\\n") + "\"");
        return all.indexOf(text, from);
    }

    // ---- reading, pausing, the end

    /** Starts the reader thread of a stream opened with {@link #connect}. */
    public void startReading() {
        lock.lock();
        try {
            if (reading) {
                return;
            }
            reading = true;
        } finally {
            lock.unlock();
        }
        try {
            socket.setSoTimeout(0); // a stream may be quiet for long: read until the server writes, ends, or close()
        } catch (IOException e) {
            // the reader will see the socket's state
        }
        Thread.ofVirtual().name("sse-test-reader").start(this::read);
    }

    /** Stops reading from the socket after what is being read now: the server's writes pile up in TCP buffers. */
    public void pause() {
        lock.lock();
        try {
            paused = true;
        } finally {
            lock.unlock();
        }
    }

    /** Reads again. */
    public void resume() {
        lock.lock();
        try {
            paused = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Waits for the server to end the body (the last chunk, or the connection closed). */
    public void awaitEnd(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        lock.lock();
        try {
            while (!ended) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("the stream did not end within " + wait + "; received:\n" + tail());
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

    public boolean ended() {
        lock.lock();
        try {
            return ended;
        } finally {
            lock.unlock();
        }
    }

    /**
     * For a client that did not read: reads (at last) everything the server wrote, discarding it, until the
     * connection ends or {@code within} passes; true when the server closed it (end of stream or reset). Reading
     * lets a stuck writer go on, so ask this only once the server should be done.
     */
    public boolean closedByServer(Duration within) {
        return RawHttp.drainUntilClosed(socket, in, within, (bytes, n) -> { });
    }

    /**
     * For a client that did not read: reads (at last) what the server wrote, as {@link #closedByServer} does, and
     * returns the last 4 KB of it, as they came on the wire (chunk sizes and all): where the server's last event,
     * an {@code event: error} say, would be.
     */
    public String endOfStream(Duration within) {
        StringBuilder tail = new StringBuilder();
        RawHttp.drainUntilClosed(socket, in, within, (bytes, n) -> {
            tail.append(new String(bytes, 0, n, StandardCharsets.ISO_8859_1));
            if (tail.length() > 8_192) {
                tail.delete(0, tail.length() - 4_096);
            }
        });
        return tail.length() <= 4_096 ? tail.toString() : tail.substring(tail.length() - 4_096);
    }

    /** The local port of this connection, as the server sees it. */
    public int localPort() {
        return socket.getLocalPort();
    }

    private String tail() {
        String text = body.toString(StandardCharsets.UTF_8);
        return text.length() <= 4_096 ? text : "…" + text.substring(text.length() - 4_096);
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
        parser.feed(bytes, n); // only the reader thread parses
    }

    /** The SSE parser: lines end with CR, LF or CRLF; a blank line dispatches the message gathered so far. */
    private final class Parser {
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();
        private boolean afterCr;
        private String id;
        private String event;
        private String retry;
        private StringBuilder data;

        void feed(byte[] bytes, int n) {
            for (int i = 0; i < n; i++) {
                byte b = bytes[i];
                if (b == '\n' && afterCr) {
                    afterCr = false;
                } else if (b == '\n' || b == '\r') {
                    afterCr = b == '\r';
                    line(line.toString(StandardCharsets.UTF_8));
                    line.reset();
                } else {
                    afterCr = false;
                    line.write(b);
                }
            }
        }

        private void line(String line) {
            if (line.isEmpty()) {
                if (data != null || event != null || id != null || retry != null) {
                    events.add(new Event(id, event == null ? "message" : event, data == null ? "" : data.toString(),
                                         retry));
                }
                id = event = retry = null;
                data = null;
            } else if (line.startsWith(":")) {
                events.add(new Event(null, ":comment", line.substring(1).trim(), null));
            } else {
                int colon = line.indexOf(':');
                String field = colon < 0 ? line : line.substring(0, colon);
                String value = colon < 0 ? "" : line.substring(colon + 1);
                if (value.startsWith(" ")) {
                    value = value.substring(1);
                }
                switch (field) {
                    case "id" -> id = value;
                    case "event" -> event = value;
                    case "retry" -> retry = value;
                    case "data" -> data = data == null ? new StringBuilder(value) : data.append('\n').append(value);
                    default -> { }
                }
            }
        }
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

    /** Writes bytes to the server after the request, which a stream's client never needs to: a hostile one. */
    public void sendRaw(byte[] bytes) throws IOException {
        socket.getOutputStream().write(bytes);
        socket.getOutputStream().flush();
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
