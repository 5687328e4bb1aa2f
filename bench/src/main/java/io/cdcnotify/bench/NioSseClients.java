package io.cdcnotify.bench;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ProtocolException;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;

/**
 * SSE clients on raw NIO ({@code --sse-client nio}, the default): {@code --sse-selectors} threads, each one
 * {@link Selector} and its share of the streams (round-robin). Each client does what a {@link SseClients} client
 * does — {@code GET /v1/events?tables=<its table>[&filter…]} with the key in the {@code Authorization} header,
 * {@code subscribed} releases its gate, every {@code cdc_event} goes to its {@link Stats.Receiver} — at a fraction
 * of the CPU: the chunked body is decoded in the read buffer, and an event's id and times are read off its data
 * line's UTF-8 bytes ({@link Events}), with no {@code String} and no task per event.
 *
 * <p>What it speaks: HTTP/1.1 without TLS or proxy; a 200 response with a chunked body (chunk extensions and
 * trailers skipped; the last chunk ends the stream), or a body delimited by {@code Content-Length} or by the end of
 * the connection; the SSE fields {@code event}, {@code data} (several lines joined with {@code \n}), {@code id} and
 * {@code retry} (both ignored) and comment lines (keepalives, ignored), lines ended by {@code \n} or {@code \r\n}.
 *
 * <p>Outcomes as {@link SseClients}: a non-200 response is an error ("sse refused") and, like any end of a stream
 * before {@link #closing}, counted in {@link Stats#closedEarly}; so is a failed connect. Memory per stream is kept
 * small: the selector thread reads into one 64 KiB buffer of its own; a stream keeps only the bytes of an event a
 * read or a chunk cut in two (in a buffer from 4 KiB, grown for a large event and dropped after it).
 */
final class NioSseClients implements SseDriver {

    private static final byte[] CDC_EVENT = Events.ascii("cdc_event");
    private static final byte[] SUBSCRIBED = Events.ascii("subscribed");
    private static final byte[] EVENT = Events.ascii("event");
    private static final byte[] DATA = Events.ascii("data");
    /** From the connect to the response's head; the JDK client's connect timeout is as long. */
    private static final long RESPONSE_TIMEOUT_NANOS = 30_000_000_000L;
    private static final int READ_BUFFER = 64 * 1024;
    private static final int CARRY_START = 4 * 1024;
    private static final int KEEP_AT_MOST = 8 * 1024;
    /** The largest message accepted: events are at most 1 MiB; this only stops a runaway stream. */
    private static final int MAX_MESSAGE = 64 << 20;
    private static final int MAX_RESPONSE_HEAD = 16 * 1024;

    /** A stream's phases. */
    private static final int CONNECTING = 0;
    private static final int HEAD = 1;
    private static final int BODY = 2;
    private static final int CLOSED = 3;

    /** The body's framing, and the chunk decoder's states. */
    private static final int RAW = 0;          // until the end of the connection, or of Content-Length
    private static final int CHUNK_SIZE = 1;   // hex digits
    private static final int CHUNK_EXT = 2;    // after ';', to the end of the line
    private static final int CHUNK_DATA = 3;
    private static final int CHUNK_DATA_END = 4; // the CRLF after a chunk's data
    private static final int TRAILER = 5;      // after the last chunk: lines up to an empty one

    private final Loop[] loops;
    private final InetSocketAddress[] addresses;
    private final String[] hosts;
    private final String[] paths;
    private final Map<Integer, Integer> perTable = new HashMap<>();
    private int opened;
    private final String key;
    private final String tablePrefix;
    private final Stats stats;
    private volatile boolean closing;

    NioSseClients(String baseUrl, String key, String tablePrefix, Stats stats, int selectors) throws IOException {
        URI[] uris = Arrays.stream(baseUrl.split(",")).map(String::trim).map(URI::create).toArray(URI[]::new);
        this.addresses = new InetSocketAddress[uris.length];
        this.hosts = new String[uris.length];
        this.paths = new String[uris.length];
        for (int i = 0; i < uris.length; i++) {
            URI u = uris[i];
            if (!"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
                throw new IllegalArgumentException("--sse-client nio needs http://host:port URLs, got " + u);
            }
            int port = u.getPort() < 0 ? 80 : u.getPort();
            addresses[i] = new InetSocketAddress(u.getHost(), port); // resolved once, here
            hosts[i] = u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + port;
            String path = u.getRawPath() == null ? "" : u.getRawPath();
            paths[i] = (path.endsWith("/") ? path.substring(0, path.length() - 1) : path) + "/v1/events";
        }
        this.key = key;
        this.tablePrefix = tablePrefix;
        this.stats = stats;
        this.loops = new Loop[Math.max(1, selectors)];
        for (int i = 0; i < loops.length; i++) {
            loops[i] = new Loop(i);
        }
        for (Loop l : loops) {
            l.thread.start();
        }
    }

    @Override
    public void open(int table, ClientFilter filter, Semaphore gate) throws InterruptedException {
        gate.acquire();
        Stats.Receiver receiver = stats.newReceiver(Stats.SSE, table, filter);
        receiver.hold(gate); // released at `subscribed`, or when the stream fails
        int target = instance(table);
        String request = "GET " + paths[target] + "?tables=" + tablePrefix + table
                         + (filter == null ? "" : filter.sseQuery()) + " HTTP/1.1\r\n"
                         + "Host: " + hosts[target] + "\r\n"
                         + "Authorization: Bearer " + key + "\r\n"
                         + "Accept: text/event-stream\r\n"
                         + "\r\n";
        Conn c = new Conn(receiver, target, request.getBytes(StandardCharsets.ISO_8859_1));
        loops[opened++ % loops.length].add(c);
    }

    /** As {@link SseClients}: a table's clients rotate over the instances, starting at a different one per table. */
    private int instance(int table) {
        int k = perTable.merge(table, 1, Integer::sum) - 1;
        return (table + k) % addresses.length;
    }

    @Override
    public void closing() {
        closing = true;
    }

    /** Closes every stream (as {@link SseClients}'s cancel) and stops the selector threads. */
    @Override
    public void close() {
        closing = true;
        for (Loop l : loops) {
            l.stop = true;
            l.selector.wakeup();
        }
        for (Loop l : loops) {
            try {
                l.thread.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** One stream; touched by its selector thread only (after {@link Loop#add}). */
    private static final class Conn {
        final Stats.Receiver receiver;
        final int target;
        SocketChannel channel;
        SelectionKey key;
        int phase = CONNECTING;
        long deadline;
        /** The request until written in full. */
        ByteBuffer out;
        /** The response's head until complete. */
        byte[] head;
        int headLength;
        /** The body's framing state (RAW or a chunk decoder state), and what is left of a chunk or Content-Length. */
        int framing;
        long remaining = -1;
        /** Decoded body bytes not yet dispatched: the start of a message a read or a chunk cut short. */
        byte[] carry;
        int carryLength;
        /** Within the carried message: where its last (incomplete) line starts, and how far it was searched. */
        int lineStart;
        int scanned;

        Conn(Stats.Receiver receiver, int target, byte[] request) {
            this.receiver = receiver;
            this.target = target;
            this.out = ByteBuffer.wrap(request);
        }
    }

    /** One selector thread and its streams. */
    private final class Loop implements Runnable {
        final Selector selector;
        final Thread thread;
        final ConcurrentLinkedQueue<Conn> pending = new ConcurrentLinkedQueue<>();
        final ByteBuffer in = ByteBuffer.allocate(READ_BUFFER);
        /** Where the data lines of a message of several are joined. */
        byte[] joined = new byte[CARRY_START];
        /** Streams without their response head yet (for the timeout). */
        int waiting;
        long nextTimeoutCheck = System.nanoTime();
        volatile boolean stop;

        Loop(int index) throws IOException {
            selector = Selector.open();
            thread = Thread.ofPlatform().name("sse-nio-" + index).daemon().unstarted(this);
        }

        void add(Conn c) {
            pending.add(c);
            selector.wakeup();
        }

        @Override
        public void run() {
            try {
                while (!stop) {
                    try {
                        selector.select(this::ready, 1_000);
                        if (stop) {
                            break;
                        }
                        register();
                        timeouts();
                    } catch (Throwable t) {
                        stats.error("sse selector thread: " + t);
                        System.err.println("sse-nio selector thread: " + t);
                    }
                }
            } finally {
                for (SelectionKey k : selector.keys()) {
                    end((Conn) k.attachment());
                }
                Conn c;
                while ((c = pending.poll()) != null) {
                    end(c);
                }
                try {
                    selector.close();
                } catch (IOException e) {
                    // closing anyway
                }
            }
        }

        private void register() {
            Conn c;
            while (!stop && (c = pending.poll()) != null) {
                waiting++;
                c.deadline = System.nanoTime() + RESPONSE_TIMEOUT_NANOS;
                try {
                    c.channel = SocketChannel.open();
                    c.channel.configureBlocking(false);
                    c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    c.key = c.channel.register(selector, 0, c);
                    if (c.channel.connect(addresses[c.target])) {
                        request(c);
                    } else {
                        c.key.interestOps(SelectionKey.OP_CONNECT);
                    }
                } catch (Throwable t) {
                    fail(c, "sse stream failed: " + t);
                }
            }
        }

        /** Once a second: streams without a response head within the timeout fail. */
        private void timeouts() {
            long now = System.nanoTime();
            if (waiting == 0 || now - nextTimeoutCheck < 0) {
                return;
            }
            nextTimeoutCheck = now + 1_000_000_000L;
            for (SelectionKey k : selector.keys()) {
                Conn c = (Conn) k.attachment();
                if (c.phase < BODY && now - c.deadline > 0) {
                    fail(c, "sse stream failed: no response within " + RESPONSE_TIMEOUT_NANOS / 1_000_000_000L + " s");
                }
            }
        }

        private void ready(SelectionKey k) {
            Conn c = (Conn) k.attachment();
            try {
                if (!k.isValid()) {
                    return;
                }
                int ops = k.readyOps();
                if ((ops & SelectionKey.OP_CONNECT) != 0 && c.channel.finishConnect()) {
                    request(c);
                }
                if ((ops & SelectionKey.OP_WRITE) != 0 && c.phase != CLOSED) {
                    flush(c);
                }
                if ((ops & SelectionKey.OP_READ) != 0 && c.phase != CLOSED) {
                    read(c);
                }
            } catch (Throwable t) {
                fail(c, "sse stream failed: " + t);
            }
        }

        // ---- the request ----

        private void request(Conn c) throws IOException {
            c.phase = HEAD;
            c.key.interestOps(SelectionKey.OP_READ);
            flush(c);
        }

        private void flush(Conn c) throws IOException {
            if (c.out != null) {
                c.channel.write(c.out);
                if (c.out.hasRemaining()) {
                    c.key.interestOps(SelectionKey.OP_READ | SelectionKey.OP_WRITE);
                    return;
                }
                c.out = null;
            }
            c.key.interestOps(SelectionKey.OP_READ);
        }

        // ---- reading ----

        private void read(Conn c) throws IOException {
            for (int round = 0; round < 4; round++) {
                ByteBuffer buf = in;
                buf.clear();
                int n = c.channel.read(buf);
                if (n < 0) {
                    if (c.phase == BODY && c.framing == RAW && c.remaining < 0) {
                        fail(c, "sse stream ended: HTTP 200"); // the body's end, as the JDK client completes it
                    } else {
                        fail(c, "sse stream failed: the server closed the connection "
                                + (c.phase == BODY ? "inside the body" : "before the response's head"));
                    }
                    return;
                }
                if (n == 0) {
                    return;
                }
                byte[] a = buf.array();
                if (c.phase == HEAD) {
                    head(c, a, n);
                } else {
                    decode(c, a, 0, n);
                }
                if (c.phase == CLOSED || n < buf.capacity()) {
                    return;
                }
            }
        }

        /** Collects the response's head; once complete, checks it and decodes what follows it. */
        private void head(Conn c, byte[] a, int n) throws IOException {
            int from = Math.max(0, c.headLength - 3);
            c.head = room(c.head, c.headLength + n);
            System.arraycopy(a, 0, c.head, c.headLength, n);
            c.headLength += n;
            byte[] h = c.head;
            int end = -1;
            for (int i = from; i + 3 < c.headLength; i++) {
                if (h[i] == '\r' && h[i + 1] == '\n' && h[i + 2] == '\r' && h[i + 3] == '\n') {
                    end = i;
                    break;
                }
            }
            if (end < 0) {
                if (c.headLength > MAX_RESPONSE_HEAD) {
                    throw new ProtocolException("response head over " + MAX_RESPONSE_HEAD + " bytes");
                }
                return;
            }
            String[] lines = new String(h, 0, end, StandardCharsets.ISO_8859_1).split("\r\n");
            String[] status = lines[0].split(" ", 3);
            int code = status.length >= 2 && status[0].startsWith("HTTP/1.") ? parseStatus(status[1]) : -1;
            if (code < 0) {
                throw new ProtocolException("bad status line: " + lines[0]);
            }
            if (code != 200) {
                stats.error("sse refused: HTTP " + code);
                fail(c, "sse stream ended: HTTP " + code);
                return;
            }
            boolean chunked = false;
            long length = -1;
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon <= 0) {
                    continue;
                }
                String name = lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT);
                String value = lines[i].substring(colon + 1).trim().toLowerCase(Locale.ROOT);
                if (name.equals("transfer-encoding")) {
                    chunked = value.endsWith("chunked");
                } else if (name.equals("content-length")) {
                    length = Long.parseLong(value);
                }
            }
            c.phase = BODY;
            waiting--;
            c.framing = chunked ? CHUNK_SIZE : RAW;
            c.remaining = chunked ? 0 : length;
            byte[] rest = Arrays.copyOfRange(h, end + 4, c.headLength);
            c.head = null;
            c.headLength = 0;
            if (!chunked && length == 0) {
                fail(c, "sse stream ended: HTTP 200");
            } else if (rest.length > 0) {
                decode(c, rest, 0, rest.length);
            }
        }

        private static int parseStatus(String s) {
            if (s.length() != 3) {
                return -1;
            }
            try {
                return Integer.parseInt(s);
            } catch (NumberFormatException e) {
                return -1;
            }
        }

        /** Decodes the body's framing in {@code a[off, end)}, handing its content on to {@link #body}. */
        private void decode(Conn c, byte[] a, int off, int end) throws IOException {
            int p = off;
            while (p < end && c.phase == BODY) {
                switch (c.framing) {
                    case RAW -> {
                        int k = c.remaining < 0 ? end - p : (int) Math.min(c.remaining, end - p);
                        body(c, a, p, p + k);
                        p += k;
                        if (c.remaining >= 0 && (c.remaining -= k) == 0 && c.phase == BODY) {
                            fail(c, "sse stream ended: HTTP 200");
                        }
                    }
                    case CHUNK_SIZE -> {
                        byte b = a[p++];
                        int digit = b >= '0' && b <= '9' ? b - '0'
                                  : b >= 'a' && b <= 'f' ? b - 'a' + 10
                                  : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
                        if (digit >= 0) {
                            c.remaining = c.remaining * 16 + digit;
                            if (c.remaining > MAX_MESSAGE) {
                                throw new ProtocolException("chunk of over " + MAX_MESSAGE + " bytes");
                            }
                        } else if (b == ';') {
                            c.framing = CHUNK_EXT;
                        } else if (b == '\n') {
                            sized(c);
                        } else if (b != '\r' && b != ' ' && b != '\t') {
                            throw new ProtocolException("bad chunk size byte " + (b & 0xFF));
                        }
                    }
                    case CHUNK_EXT -> {
                        if (a[p++] == '\n') {
                            sized(c);
                        }
                    }
                    case CHUNK_DATA -> {
                        int k = (int) Math.min(c.remaining, end - p);
                        body(c, a, p, p + k);
                        p += k;
                        if ((c.remaining -= k) == 0) {
                            c.framing = CHUNK_DATA_END;
                        }
                    }
                    case CHUNK_DATA_END -> {
                        byte b = a[p++];
                        if (b == '\n') {
                            c.framing = CHUNK_SIZE;
                            c.remaining = 0;
                        } else if (b != '\r') {
                            throw new ProtocolException("no CRLF after a chunk's data");
                        }
                    }
                    case TRAILER -> {
                        // c.remaining: bytes of the current trailer line, other than CR
                        byte b = a[p++];
                        if (b == '\n') {
                            if (c.remaining == 0) {
                                fail(c, "sse stream ended: HTTP 200"); // the last chunk: the body is complete
                            }
                            c.remaining = 0;
                        } else if (b != '\r') {
                            c.remaining++;
                        }
                    }
                    default -> throw new IllegalStateException("framing " + c.framing);
                }
            }
        }

        /** A chunk-size line is complete. */
        private void sized(Conn c) {
            if (c.remaining == 0) {
                c.framing = TRAILER; // the last chunk
            } else {
                c.framing = CHUNK_DATA;
            }
        }

        /**
         * Decoded body bytes {@code a[off, end)}: dispatches the messages they complete and keeps the start of an
         * incomplete one. Without carried bytes, the messages are read where they are (in the read buffer).
         */
        private void body(Conn c, byte[] a, int off, int end) throws IOException {
            if (c.carryLength == 0) {
                int used = messages(c, a, off, end);
                if (c.phase != CLOSED && used < end) {
                    keep(c, a, used, end - used);
                }
                return;
            }
            keep(c, a, off, end - off);
            int used = messages(c, c.carry, 0, c.carryLength);
            if (c.phase == CLOSED) {
                return;
            }
            int left = c.carryLength - used;
            if (left > 0 && used > 0) {
                System.arraycopy(c.carry, used, c.carry, 0, left);
            }
            c.carryLength = left;
            if (left == 0 && c.carry.length > KEEP_AT_MOST) {
                c.carry = null;
            }
        }

        private void keep(Conn c, byte[] a, int off, int n) throws ProtocolException {
            int need = c.carryLength + n;
            if (need > MAX_MESSAGE) {
                throw new ProtocolException("sse message over " + MAX_MESSAGE + " bytes");
            }
            c.carry = room(c.carry, need);
            System.arraycopy(a, off, c.carry, c.carryLength, n);
            c.carryLength = need;
        }

        /** {@code buf}, or a copy of it at least {@code need} long (doubling from {@code CARRY_START}). */
        private static byte[] room(byte[] buf, int need) {
            if (buf != null && buf.length >= need) {
                return buf;
            }
            int size = Math.max(CARRY_START, buf == null ? 0 : buf.length);
            while (size < need) {
                size *= 2;
            }
            return buf == null ? new byte[size] : Arrays.copyOf(buf, size);
        }

        /**
         * Dispatches the complete messages in {@code a[start, end)} (those ended by an empty line, {@code \n} or
         * {@code \r\n}), {@code start} being a message's start and {@code c.lineStart}, {@code c.scanned} relative
         * to it; where the incomplete rest starts, with {@code c.lineStart}, {@code c.scanned} relative to that.
         */
        private int messages(Conn c, byte[] a, int start, int end) {
            int msg = start;
            int line = start + c.lineStart;
            for (int i = start + c.scanned; i < end; i++) {
                if (a[i] != '\n') {
                    continue;
                }
                int lineEnd = i > line && a[i - 1] == '\r' ? i - 1 : i;
                if (lineEnd == line) { // an empty line: the message before it is complete
                    if (line > msg) {
                        message(c, a, msg, line);
                    }
                    msg = i + 1;
                }
                line = i + 1;
            }
            c.lineStart = line - msg;
            c.scanned = end - msg;
            return msg;
        }

        /** One message, {@code a[from, to)}, its lines each ended by {@code \n}: as {@code SseClients.message}. */
        private void message(Conn c, byte[] a, int from, int to) {
            int eventFrom = -1;
            int eventTo = -1;
            byte[] data = null;
            int dataFrom = -1;
            int dataTo = -1;
            int p = from;
            while (p < to) {
                int nl = p;
                while (a[nl] != '\n') {
                    nl++;
                }
                int le = nl > p && a[nl - 1] == '\r' ? nl - 1 : nl;
                if (le > p && a[p] != ':') { // not a comment (a keepalive)
                    int colon = p;
                    while (colon < le && a[colon] != ':') {
                        colon++;
                    }
                    int value = colon < le ? colon + 1 : le;
                    if (value < le && a[value] == ' ') {
                        value++;
                    }
                    if (is(a, p, colon, EVENT)) {
                        eventFrom = value;
                        eventTo = le;
                    } else if (is(a, p, colon, DATA)) {
                        if (data == null) {
                            data = a;
                            dataFrom = value;
                            dataTo = le;
                        } else { // a further data line: joined with '\n' (rare: the service sends one)
                            int n = dataTo - dataFrom;
                            int need = n + 1 + le - value;
                            if (data != joined || dataFrom != 0) {
                                joined = room(joined, need);
                                System.arraycopy(data, dataFrom, joined, 0, n);
                            } else {
                                joined = room(joined, need);
                            }
                            joined[n] = '\n';
                            System.arraycopy(a, value, joined, n + 1, le - value);
                            data = joined;
                            dataFrom = 0;
                            dataTo = need;
                        }
                    } // id, retry and unknown fields: ignored
                }
                p = nl + 1;
            }
            if (eventFrom >= 0 && is(a, eventFrom, eventTo, CDC_EVENT)) {
                long id = data == null ? -1 : Events.id(data, dataFrom, dataTo);
                if (id < 0) {
                    stats.error("sse event without id: " + text(a, from, to));
                    return;
                }
                c.receiver.event(id, Events.createdAtMicros(data, dataFrom, dataTo),
                                 Events.intendedMicros(data, dataFrom, dataTo), Events.seq(data, dataFrom, dataTo));
            } else if (eventFrom >= 0 && is(a, eventFrom, eventTo, SUBSCRIBED)) {
                c.receiver.subscribed();
            } else if (eventFrom >= 0 || data != null) { // e.g. `event: error`
                stats.error("sse message: " + text(a, from, to));
            } // only comments, id or retry: nothing to dispatch
        }

        private static boolean is(byte[] a, int from, int to, byte[] word) {
            return to - from == word.length && Events.startsWith(a, from, to, word);
        }

        private static String text(byte[] a, int from, int to) {
            return new String(a, from, Math.max(0, to - from - 1), StandardCharsets.UTF_8);
        }

        // ---- the end ----

        /**
         * A stream ends or fails: as {@code SseClients}'s completion — the gate released, the receiver closed, and
         * unless {@link #closing}, counted as closed early with {@code what} as the error.
         */
        private void fail(Conn c, String what) {
            if (c.phase == CLOSED) {
                return;
            }
            if (c.phase < BODY) {
                waiting--;
            }
            c.phase = CLOSED;
            closeChannel(c);
            c.receiver.closed = true;
            c.receiver.release();
            if (!closing) {
                stats.closedEarly.increment();
                stats.error(what);
            }
        }

        /** At close: the channel closed without counting anything (the driver closes; {@link #closing} is set). */
        private void end(Conn c) {
            c.phase = CLOSED;
            closeChannel(c);
        }

        private void closeChannel(Conn c) {
            c.carry = null;
            c.carryLength = 0;
            c.head = null;
            c.out = null;
            if (c.channel != null) {
                try {
                    c.channel.close(); // cancels its key
                } catch (IOException e) {
                    // closed anyway
                }
            }
        }
    }
}
