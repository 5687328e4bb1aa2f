package io.cdcnotify.bench;

import java.io.IOException;
import java.net.ProtocolException;
import java.nio.ByteBuffer;
import java.nio.channels.Selector;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * WebSocket clients on raw NIO ({@code --ws-client nio}, the default): {@code --ws-selectors} threads, each one
 * {@link Selector} and its share of the clients (round-robin). Each client does what a {@link WsClients} client
 * does — upgrade with the {@code Authorization} header, subscribe to its table on {@code auth_ok}, hand every
 * {@code cdc_event} to its {@link Stats.Receiver} — at a fraction of the CPU: frames are parsed in the read
 * buffer, and an event's id and times are read off its UTF-8 bytes ({@link Events}), with no {@code String}, no
 * future and no task per frame. The driver shares two cores with the service and PostgreSQL, and at 100,000
 * frames/s the JDK client cost more CPU than the service.
 *
 * <p>What it speaks: RFC 6455 as a client needs it against cdc-notify — masked client frames, unmasked server
 * frames with 7-, 16- and 64-bit lengths, fragmented text messages, pings answered with a pong of the same
 * payload, the server's close frame answered and the socket closed. No extensions (no compression), no
 * subprotocol, no TLS, no proxy.
 *
 * <p>Memory per connection is kept small (the driver holds up to 10,000): the selector thread reads into one
 * 64 KiB buffer of its own; a connection keeps only the bytes of a frame a read cut in two (in a buffer from
 * 4 KiB, grown for a large event and dropped after it) and the frames of a fragmented message.
 */
final class NioWsClients extends NioClients<NioWsClients.WsConn> implements WsDriver {

    private static final byte[] EVENT_TYPE = Events.ascii("{\"v\":1,\"type\":\"cdc_event\"");
    private static final byte[] EVENT_OBJECT = Events.ascii("\"event\":{");
    private static final String ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private static final byte[] EMPTY = new byte[0];
    /** The largest message (or frame) accepted: events are at most 1 MiB; this only stops a runaway length. */
    private static final long MAX_MESSAGE = 64L << 20;

    private static final int OP_CONTINUATION = 0x0;
    private static final int OP_TEXT = 0x1;
    private static final int OP_BINARY = 0x2;
    private static final int OP_CLOSE = 0x8;
    private static final int OP_PING = 0x9;
    private static final int OP_PONG = 0xA;

    /** A connection's phases, as {@link NioClients}'s: OPENING is waiting for the upgrade's response. */
    private static final int UPGRADING = OPENING;

    NioWsClients(String baseUrl, String key, String tablePrefix, Stats stats, int selectors) throws IOException {
        super(baseUrl, key, tablePrefix, stats, selectors, "--ws-client nio", "/v1/ws", Stats.WS, "ws-nio",
              "", "no upgrade");
    }

    @Override
    Loop newLoop(int index) throws IOException {
        return new WsLoop(index);
    }

    @Override
    WsConn newConn(Stats.Receiver receiver, int table, ClientFilter filter, int target) {
        return new WsConn(receiver, tablePrefix + table, filter, target);
    }

    /** One client connection. */
    static final class WsConn extends NioClients.Conn {
        final String table;
        final ClientFilter filter;
        /** The {@code Sec-WebSocket-Accept} the server must answer with, until it has. */
        String accept;
        /** The fragmented message being received: OP_TEXT or OP_BINARY, or 0; a text message's bytes so far. */
        int fragmented;
        byte[] message;
        int messageLength;

        WsConn(Stats.Receiver receiver, String table, ClientFilter filter, int target) {
            super(receiver, target);
            this.table = table;
            this.filter = filter;
        }

        @Override
        void drop() {
            message = null;
            messageLength = 0;
        }
    }

    /** One selector thread and its connections. */
    private final class WsLoop extends Loop {
        final SplittableRandom random = new SplittableRandom();
        final MessageDigest sha1;

        WsLoop(int index) throws IOException {
            super(index);
            try {
                sha1 = MessageDigest.getInstance("SHA-1");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        void received(WsConn c, byte[] a, int n) throws IOException {
            carried(c, a, 0, n);
        }

        @Override
        String ended(WsConn c) {
            return c.phase == OPEN ? "the server closed the connection without a close frame"
                                   : "the server closed the connection during the upgrade";
        }

        /**
         * A connection fails: before the upgrade completed, as {@link WsClients}'s failed open; after it, as
         * {@code WsClients.Listener.onError} (counted as closed early unless {@link #closing}).
         */
        @Override
        void failed(WsConn c, boolean opening, String what) {
            if (opening) {
                stats.error("websocket open failed: " + what);
            } else {
                closedEarly("websocket failed: " + what);
            }
        }

        // ---- the upgrade ----

        @Override
        void connected(WsConn c) throws IOException {
            byte[] nonce = new byte[16];
            random.nextBytes(nonce);
            String wsKey = Base64.getEncoder().encodeToString(nonce);
            c.accept = Base64.getEncoder().encodeToString(
                    sha1.digest((wsKey + ACCEPT_GUID).getBytes(StandardCharsets.US_ASCII)));
            String request = "GET " + paths[c.target] + " HTTP/1.1\r\n"
                             + "Host: " + hosts[c.target] + "\r\n"
                             + "Upgrade: websocket\r\n"
                             + "Connection: Upgrade\r\n"
                             + "Sec-WebSocket-Key: " + wsKey + "\r\n"
                             + "Sec-WebSocket-Version: 13\r\n"
                             + "Authorization: Bearer " + key + "\r\n"
                             + "\r\n";
            send(c, ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1)));
        }

        /**
         * The upgrade's response in {@code a[off, end)}: where the bytes after its head start (frames the server
         * sent right after it), or -1 while the head is incomplete. Anything but a 101 with the right
         * {@code Sec-WebSocket-Accept} fails the connection.
         */
        private int response(WsConn c, byte[] a, int off, int end) throws IOException {
            int head = -1;
            for (int i = off; i + 3 < end; i++) {
                if (a[i] == '\r' && a[i + 1] == '\n' && a[i + 2] == '\r' && a[i + 3] == '\n') {
                    head = i;
                    break;
                }
            }
            if (head < 0) {
                if (end - off > MAX_RESPONSE_HEAD) {
                    throw new ProtocolException("upgrade response head over " + MAX_RESPONSE_HEAD + " bytes");
                }
                return -1;
            }
            String[] lines = new String(a, off, head - off, StandardCharsets.ISO_8859_1).split("\r\n");
            String status = lines[0];
            String[] parts = status.split(" ", 3);
            if (parts.length < 2 || !parts[0].startsWith("HTTP/1.") || !parts[1].equals("101")) {
                fail(c, status);
                return end;
            }
            String accept = null;
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon > 0 && lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT)
                        .equals("sec-websocket-accept")) {
                    accept = lines[i].substring(colon + 1).trim();
                }
            }
            if (!c.accept.equals(accept)) {
                fail(c, status + " with Sec-WebSocket-Accept " + accept + ", expected " + c.accept);
                return end;
            }
            c.accept = null;
            opened(c);
            return head + 4;
        }

        /** Parses what it can of {@code a[off, end)}: the upgrade's response, then frames; where it stopped. */
        @Override
        int parse(WsConn c, byte[] a, int off, int end) throws IOException {
            if (c.phase == UPGRADING) {
                int after = response(c, a, off, end);
                if (after < 0 || c.phase != OPEN) {
                    return after < 0 ? off : end;
                }
                off = after;
            } else if (c.phase != OPEN) {
                throw new ProtocolException("data before the connection was established");
            }
            int p = off;
            while (c.phase == OPEN) {
                int available = end - p;
                if (available < 2) {
                    break;
                }
                int b0 = a[p] & 0xFF;
                int b1 = a[p + 1] & 0xFF;
                if ((b1 & 0x80) != 0) {
                    throw new ProtocolException("masked server frame");
                }
                if ((b0 & 0x70) != 0) {
                    throw new ProtocolException("reserved bits set (no extension was negotiated)");
                }
                int header;
                long length = b1 & 0x7F;
                if (length == 126) {
                    header = 4;
                    if (available < header) {
                        break;
                    }
                    length = ((a[p + 2] & 0xFF) << 8) | (a[p + 3] & 0xFF);
                } else if (length == 127) {
                    header = 10;
                    if (available < header) {
                        break;
                    }
                    length = 0;
                    for (int i = 2; i < 10; i++) {
                        length = (length << 8) | (a[p + i] & 0xFF);
                    }
                    if (length < 0) {
                        throw new ProtocolException("frame length out of range");
                    }
                } else {
                    header = 2;
                }
                if (length > MAX_MESSAGE) {
                    throw new ProtocolException("frame of " + length + " bytes");
                }
                if (available < header + length) {
                    break;
                }
                int payload = p + header;
                int n = (int) length;
                p = payload + n;
                frame(c, b0 & 0x0F, (b0 & 0x80) != 0, a, payload, n);
            }
            return p;
        }

        private void frame(WsConn c, int opcode, boolean fin, byte[] a, int off, int n) throws IOException {
            switch (opcode) {
                case OP_TEXT, OP_BINARY -> {
                    if (c.fragmented != 0) {
                        throw new ProtocolException("a new message inside a fragmented one");
                    }
                    if (!fin) {
                        c.fragmented = opcode;
                        if (opcode == OP_TEXT) {
                            append(c, a, off, n);
                        }
                    } else if (opcode == OP_TEXT) {
                        text(c, a, off, n);
                    }
                }
                case OP_CONTINUATION -> {
                    if (c.fragmented == 0) {
                        throw new ProtocolException("continuation frame without a message");
                    }
                    if (c.fragmented == OP_TEXT) {
                        append(c, a, off, n);
                        if (fin) {
                            text(c, c.message, 0, c.messageLength);
                            c.messageLength = 0;
                            if (c.message != null && c.message.length > KEEP_AT_MOST) {
                                c.message = null;
                            }
                        }
                    }
                    if (fin) {
                        c.fragmented = 0;
                    }
                }
                case OP_CLOSE, OP_PING, OP_PONG -> {
                    if (!fin || n > 125) {
                        throw new ProtocolException("fragmented or long control frame");
                    }
                    if (opcode == OP_PING) {
                        send(c, masked(OP_PONG, a, off, n)); // the same payload
                    } else if (opcode == OP_CLOSE) {
                        closed(c, a, off, n);
                    }
                }
                default -> throw new ProtocolException("reserved opcode " + opcode);
            }
        }

        private void append(WsConn c, byte[] a, int off, int n) throws ProtocolException {
            int need = c.messageLength + n;
            if (need > MAX_MESSAGE) {
                throw new ProtocolException("message over " + MAX_MESSAGE + " bytes");
            }
            c.message = room(c.message, need);
            System.arraycopy(a, off, c.message, c.messageLength, n);
            c.messageLength = need;
        }

        /** One text message, its UTF-8 bytes {@code a[off, off + n)}: as {@code WsClients.Listener.handle}. */
        private void text(WsConn c, byte[] a, int off, int n) throws IOException {
            int end = off + n;
            if (Events.startsWith(a, off, end, EVENT_TYPE)) {
                if (!Events.report(c.receiver, a, Events.indexOf(a, off, end, EVENT_OBJECT), off, end)) {
                    stats.error("websocket event without id: " + new String(a, off, n, StandardCharsets.UTF_8));
                }
                return;
            }
            String text = new String(a, off, n, StandardCharsets.UTF_8);
            if (text.contains("\"type\":\"auth_ok\"")) {
                byte[] subscribe = ("{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"" + c.table + "\"]"
                                    + (c.filter == null ? "" : c.filter.wsMembers()) + "}")
                        .getBytes(StandardCharsets.UTF_8);
                send(c, masked(OP_TEXT, subscribe, 0, subscribe.length));
            } else if (text.contains("\"type\":\"subscribed\"")) {
                c.receiver.subscribed();
            } else {
                c.receiver.release(); // e.g. an error in reply to the subscribe
                stats.error("websocket message: " + text);
            }
        }

        /** The server's close frame: as {@code WsClients.Listener.onClose}; answered, and the socket closed. */
        private void closed(WsConn c, byte[] a, int off, int n) {
            int code = n >= 2 ? ((a[off] & 0xFF) << 8) | (a[off + 1] & 0xFF) : 1005;
            String reason = n > 2 ? new String(a, off + 2, n - 2, StandardCharsets.UTF_8) : "";
            try {
                send(c, masked(OP_CLOSE, n >= 2 ? a : EMPTY, off, n >= 2 ? 2 : 0));
            } catch (IOException e) {
                // the server may be gone already
            }
            finish(c);
            closedEarly("websocket closed by the server: " + code + " " + reason);
        }

        // ---- writing ----

        /** A client frame (FIN set): masked with a random key, as RFC 6455 requires of a client. */
        private ByteBuffer masked(int opcode, byte[] payload, int off, int n) {
            int header = n < 126 ? 2 : n < 65536 ? 4 : 10;
            byte[] f = new byte[header + 4 + n];
            f[0] = (byte) (0x80 | opcode);
            if (n < 126) {
                f[1] = (byte) (0x80 | n);
            } else if (n < 65536) {
                f[1] = (byte) (0x80 | 126);
                f[2] = (byte) (n >>> 8);
                f[3] = (byte) n;
            } else {
                f[1] = (byte) (0x80 | 127);
                for (int i = 0; i < 8; i++) {
                    f[2 + i] = (byte) ((long) n >>> (56 - 8 * i));
                }
            }
            int mask = random.nextInt();
            for (int i = 0; i < 4; i++) {
                f[header + i] = (byte) (mask >>> (24 - 8 * i));
            }
            int p = header + 4;
            for (int i = 0; i < n; i++) {
                f[p + i] = (byte) (payload[off + i] ^ f[header + (i & 3)]);
            }
            return ByteBuffer.wrap(f);
        }
    }
}
