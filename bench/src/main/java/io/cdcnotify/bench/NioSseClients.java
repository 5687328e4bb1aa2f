package io.cdcnotify.bench;

import java.io.IOException;
import java.net.ProtocolException;
import java.nio.ByteBuffer;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

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
final class NioSseClients extends NioClients<NioSseClients.SseConn> implements SseDriver {

    private static final byte[] CDC_EVENT = Events.ascii("cdc_event");
    private static final byte[] SUBSCRIBED = Events.ascii("subscribed");
    private static final byte[] EVENT = Events.ascii("event");
    private static final byte[] DATA = Events.ascii("data");
    /** The largest message accepted: events are at most 1 MiB; this only stops a runaway stream. */
    private static final int MAX_MESSAGE = 64 << 20;

    /** A stream's phases, as {@link NioClients}'s: before the response's head, and in the body. */
    private static final int HEAD = OPENING;
    private static final int BODY = OPEN;

    /** The body's framing, and the chunk decoder's states. */
    private static final int RAW = 0;          // until the end of the connection, or of Content-Length
    private static final int CHUNK_SIZE = 1;   // hex digits
    private static final int CHUNK_EXT = 2;    // after ';', to the end of the line
    private static final int CHUNK_DATA = 3;
    private static final int CHUNK_DATA_END = 4; // the CRLF after a chunk's data
    private static final int TRAILER = 5;      // after the last chunk: lines up to an empty one

    NioSseClients(String baseUrl, String key, String tablePrefix, Stats stats, int selectors) throws IOException {
        super(baseUrl, key, tablePrefix, stats, selectors, "--sse-client nio", "/v1/events", Stats.SSE, "sse-nio",
              "sse stream failed: ", "sse stream failed: no response");
    }

    /** Closes every stream (as {@link SseClients}'s cancel) and stops the selector threads. */
    @Override
    public void close() {
        closing = true;
        super.close();
    }

    @Override
    Loop newLoop(int index) throws IOException {
        return new SseLoop(index);
    }

    @Override
    SseConn newConn(Stats.Receiver receiver, int table, ClientFilter filter, int target) {
        String request = "GET " + paths[target] + "?tables=" + tablePrefix + table
                         + (filter == null ? "" : filter.sseQuery()) + " HTTP/1.1\r\n"
                         + "Host: " + hosts[target] + "\r\n"
                         + "Authorization: Bearer " + key + "\r\n"
                         + "Accept: text/event-stream\r\n"
                         + "\r\n";
        return new SseConn(receiver, target, request.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** One stream. */
    static final class SseConn extends NioClients.Conn {
        /** The request until sent. */
        byte[] request;
        /** The response's head until complete. */
        byte[] head;
        int headLength;
        /** The body's framing state (RAW or a chunk decoder state), and what is left of a chunk or Content-Length. */
        int framing;
        long remaining = -1;
        /** Within the carried message: where its last (incomplete) line starts, and how far it was searched. */
        int lineStart;
        int scanned;

        SseConn(Stats.Receiver receiver, int target, byte[] request) {
            super(receiver, target);
            this.request = request;
        }

        @Override
        void drop() {
            head = null;
        }
    }

    /** One selector thread and its streams. */
    private final class SseLoop extends Loop {
        /** Where the data lines of a message of several are joined. */
        byte[] joined = new byte[CARRY_START];

        SseLoop(int index) throws IOException {
            super(index);
        }

        @Override
        void connected(SseConn c) throws IOException {
            byte[] request = c.request;
            c.request = null;
            send(c, ByteBuffer.wrap(request));
        }

        @Override
        void received(SseConn c, byte[] a, int n) throws IOException {
            if (c.phase == HEAD) {
                head(c, a, n);
            } else {
                decode(c, a, 0, n);
            }
        }

        @Override
        String ended(SseConn c) {
            if (c.phase == BODY && c.framing == RAW && c.remaining < 0) {
                return "sse stream ended: HTTP 200"; // the body's end, as the JDK client completes it
            }
            return "sse stream failed: the server closed the connection "
                   + (c.phase == BODY ? "inside the body" : "before the response's head");
        }

        @Override
        int parse(SseConn c, byte[] a, int off, int end) {
            return messages(c, a, off, end);
        }

        @Override
        int carryLimit() {
            return MAX_MESSAGE;
        }

        @Override
        String carryLimitWhat() {
            return "sse message";
        }

        // ---- the response ----

        /** Collects the response's head; once complete, checks it and decodes what follows it. */
        private void head(SseConn c, byte[] a, int n) throws IOException {
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
            opened(c);
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

        /** Decodes the body's framing in {@code a[off, end)}, handing its content on to {@link #carried}. */
        private void decode(SseConn c, byte[] a, int off, int end) throws IOException {
            int p = off;
            while (p < end && c.phase == BODY) {
                switch (c.framing) {
                    case RAW -> {
                        int k = c.remaining < 0 ? end - p : (int) Math.min(c.remaining, end - p);
                        carried(c, a, p, p + k);
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
                        carried(c, a, p, p + k);
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
        private void sized(SseConn c) {
            if (c.remaining == 0) {
                c.framing = TRAILER; // the last chunk
            } else {
                c.framing = CHUNK_DATA;
            }
        }

        /**
         * Dispatches the complete messages in {@code a[start, end)} (those ended by an empty line, {@code \n} or
         * {@code \r\n}), {@code start} being a message's start and {@code c.lineStart}, {@code c.scanned} relative
         * to it; where the incomplete rest starts, with {@code c.lineStart}, {@code c.scanned} relative to that.
         */
        private int messages(SseConn c, byte[] a, int start, int end) {
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
        private void message(SseConn c, byte[] a, int from, int to) {
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
                if (data == null || !Events.report(c.receiver, data, dataFrom, dataFrom, dataTo)) {
                    stats.error("sse event without id: " + text(a, from, to));
                }
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
    }
}
