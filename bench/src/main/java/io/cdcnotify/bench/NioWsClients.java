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
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;

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
final class NioWsClients implements WsDriver {

    private static final byte[] EVENT_TYPE = Events.ascii("{\"v\":1,\"type\":\"cdc_event\"");
    private static final byte[] EVENT_OBJECT = Events.ascii("\"event\":{");
    private static final String ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private static final byte[] EMPTY = new byte[0];
    /** As {@link WsClients}'s connect timeout: from the connect to the upgrade's response. */
    private static final long HANDSHAKE_TIMEOUT_NANOS = 30_000_000_000L;
    private static final int READ_BUFFER = 64 * 1024;
    /** A connection's buffer for a frame cut by a read starts at this size. */
    private static final int CARRY_START = 4 * 1024;
    /** A connection's buffers up to this size stay with it; larger ones (a large event's) are dropped after use. */
    private static final int KEEP_AT_MOST = 8 * 1024;
    /** The largest message (or frame) accepted: events are at most 1 MiB; this only stops a runaway length. */
    private static final long MAX_MESSAGE = 64L << 20;
    private static final int MAX_RESPONSE_HEAD = 16 * 1024;

    private static final int OP_CONTINUATION = 0x0;
    private static final int OP_TEXT = 0x1;
    private static final int OP_BINARY = 0x2;
    private static final int OP_CLOSE = 0x8;
    private static final int OP_PING = 0x9;
    private static final int OP_PONG = 0xA;

    /** A connection's phases. */
    private static final int CONNECTING = 0;
    private static final int UPGRADING = 1;
    private static final int OPEN = 2;
    private static final int CLOSED = 3;

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

    NioWsClients(String baseUrl, String key, String tablePrefix, Stats stats, int selectors) throws IOException {
        // several instances, comma-separated: clients go to them round-robin
        URI[] uris = java.util.Arrays.stream(baseUrl.split(",")).map(String::trim).map(URI::create)
                .toArray(URI[]::new);
        this.addresses = new InetSocketAddress[uris.length];
        this.hosts = new String[uris.length];
        this.paths = new String[uris.length];
        for (int i = 0; i < uris.length; i++) {
            URI u = uris[i];
            if (!"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
                throw new IllegalArgumentException("--ws-client nio needs http://host:port URLs, got " + u);
            }
            int port = u.getPort() < 0 ? 80 : u.getPort();
            addresses[i] = new InetSocketAddress(u.getHost(), port); // resolved once, here
            hosts[i] = u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + port;
            String path = u.getRawPath() == null ? "" : u.getRawPath();
            paths[i] = (path.endsWith("/") ? path.substring(0, path.length() - 1) : path) + "/v1/ws";
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
        Stats.Receiver receiver = stats.newReceiver(Stats.WS, table, filter);
        receiver.hold(gate);
        Conn c = new Conn(receiver, tablePrefix + table, filter, instance(table));
        loops[opened++ % loops.length].add(c);
    }

    /** As {@link WsClients}: a table's clients rotate over the instances, starting at a different one per table. */
    private int instance(int table) {
        int k = perTable.merge(table, 1, Integer::sum) - 1;
        return (table + k) % addresses.length;
    }

    @Override
    public void closing() {
        closing = true;
    }

    /** Closes every connection (no close handshake: as {@link WsClients}'s abort) and stops the selector threads. */
    @Override
    public void close() {
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

    /** One client connection; touched by its selector thread only (after {@link Loop#add}). */
    private static final class Conn {
        final Stats.Receiver receiver;
        final String table;
        final ClientFilter filter;
        final int target;
        SocketChannel channel;
        SelectionKey key;
        int phase = CONNECTING;
        long deadline;
        /** The {@code Sec-WebSocket-Accept} the server must answer with, until it has. */
        String accept;
        /** Received bytes not yet parsed: a frame (or the upgrade's response) a read cut short. */
        byte[] carry;
        int carryLength;
        /** The fragmented message being received: OP_TEXT or OP_BINARY, or 0; a text message's bytes so far. */
        int fragmented;
        byte[] message;
        int messageLength;
        /** Bytes a write left over; written when the socket can take them. */
        ByteBuffer out;

        Conn(Stats.Receiver receiver, String table, ClientFilter filter, int target) {
            this.receiver = receiver;
            this.table = table;
            this.filter = filter;
            this.target = target;
        }
    }

    /** One selector thread and its connections. */
    private final class Loop implements Runnable {
        final Selector selector;
        final Thread thread;
        /** Connections to register: {@link #open} runs on another thread, and only this one touches the selector. */
        final ConcurrentLinkedQueue<Conn> pending = new ConcurrentLinkedQueue<>();
        final ByteBuffer in = ByteBuffer.allocate(READ_BUFFER);
        final SplittableRandom random = new SplittableRandom();
        final MessageDigest sha1;
        /** Connections not yet open (for the handshake timeout). */
        int upgrading;
        long nextTimeoutCheck = System.nanoTime();
        volatile boolean stop;

        Loop(int index) throws IOException {
            selector = Selector.open();
            try {
                sha1 = MessageDigest.getInstance("SHA-1");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
            thread = Thread.ofPlatform().name("ws-nio-" + index).daemon().unstarted(this);
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
                        // never die silently: count it, say it, go on with the other connections
                        stats.error("websocket selector thread: " + t);
                        System.err.println("ws-nio selector thread: " + t);
                    }
                }
            } finally {
                for (SelectionKey k : selector.keys()) {
                    closeChannel((Conn) k.attachment());
                }
                Conn c;
                while ((c = pending.poll()) != null) {
                    closeChannel(c);
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
                upgrading++;
                c.deadline = System.nanoTime() + HANDSHAKE_TIMEOUT_NANOS;
                try {
                    c.channel = SocketChannel.open();
                    c.channel.configureBlocking(false);
                    c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    c.key = c.channel.register(selector, 0, c);
                    if (c.channel.connect(addresses[c.target])) {
                        upgrade(c);
                    } else {
                        c.key.interestOps(SelectionKey.OP_CONNECT);
                    }
                } catch (Throwable t) {
                    fail(c, t.toString());
                }
            }
        }

        /** Once a second: connections whose upgrade has not completed within the timeout fail. */
        private void timeouts() {
            long now = System.nanoTime();
            if (upgrading == 0 || now - nextTimeoutCheck < 0) {
                return;
            }
            nextTimeoutCheck = now + 1_000_000_000L;
            for (SelectionKey k : selector.keys()) {
                Conn c = (Conn) k.attachment();
                if (c.phase < OPEN && now - c.deadline > 0) {
                    fail(c, "no upgrade within " + HANDSHAKE_TIMEOUT_NANOS / 1_000_000_000L + " s");
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
                    upgrade(c);
                }
                if ((ops & SelectionKey.OP_WRITE) != 0 && c.phase != CLOSED) {
                    flush(c);
                }
                if ((ops & SelectionKey.OP_READ) != 0 && c.phase != CLOSED) {
                    read(c);
                }
            } catch (Throwable t) {
                fail(c, t.toString());
            }
        }

        // ---- the upgrade ----

        private void upgrade(Conn c) throws IOException {
            c.phase = UPGRADING;
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
            c.key.interestOps(SelectionKey.OP_READ);
            send(c, ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1)));
        }

        /**
         * The upgrade's response in {@code a[off, end)}: where the bytes after its head start (frames the server
         * sent right after it), or -1 while the head is incomplete. Anything but a 101 with the right
         * {@code Sec-WebSocket-Accept} fails the connection.
         */
        private int response(Conn c, byte[] a, int off, int end) throws IOException {
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
            c.phase = OPEN;
            upgrading--;
            return head + 4;
        }

        // ---- reading ----

        private void read(Conn c) throws IOException {
            for (int round = 0; round < 4; round++) {
                ByteBuffer buf = in;
                buf.clear();
                int n = c.channel.read(buf);
                if (n < 0) {
                    fail(c, c.phase == OPEN ? "the server closed the connection without a close frame"
                                            : "the server closed the connection during the upgrade");
                    return;
                }
                if (n == 0) {
                    return;
                }
                byte[] a = buf.array();
                if (c.carryLength == 0) {
                    int used = consume(c, a, 0, n);
                    if (c.phase == CLOSED) {
                        return;
                    }
                    if (used < n) {
                        keep(c, a, used, n - used);
                    }
                } else {
                    keep(c, a, 0, n);
                    int used = consume(c, c.carry, 0, c.carryLength);
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
                if (n < buf.capacity()) {
                    return; // the socket is drained; otherwise read on (a few rounds, then the others' turn)
                }
            }
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
            return buf == null ? new byte[size] : java.util.Arrays.copyOf(buf, size);
        }

        /** Appends {@code a[off, off + n)} to the connection's unparsed bytes, growing its buffer as needed. */
        private void keep(Conn c, byte[] a, int off, int n) {
            int need = c.carryLength + n;
            c.carry = room(c.carry, need);
            System.arraycopy(a, off, c.carry, c.carryLength, n);
            c.carryLength = need;
        }

        /** Parses what it can of {@code a[off, end)}: the upgrade's response, then frames; where it stopped. */
        private int consume(Conn c, byte[] a, int off, int end) throws IOException {
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

        private void frame(Conn c, int opcode, boolean fin, byte[] a, int off, int n) throws IOException {
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

        private void append(Conn c, byte[] a, int off, int n) throws ProtocolException {
            int need = c.messageLength + n;
            if (need > MAX_MESSAGE) {
                throw new ProtocolException("message over " + MAX_MESSAGE + " bytes");
            }
            c.message = room(c.message, need);
            System.arraycopy(a, off, c.message, c.messageLength, n);
            c.messageLength = need;
        }

        /** One text message, its UTF-8 bytes {@code a[off, off + n)}: as {@code WsClients.Listener.handle}. */
        private void text(Conn c, byte[] a, int off, int n) throws IOException {
            int end = off + n;
            if (Events.startsWith(a, off, end, EVENT_TYPE)) {
                int event = Events.indexOf(a, off, end, EVENT_OBJECT);
                long id = event < 0 ? -1 : Events.id(a, event, end);
                if (id < 0) {
                    stats.error("websocket event without id: " + new String(a, off, n, StandardCharsets.UTF_8));
                    return;
                }
                c.receiver.event(id, Events.createdAtMicros(a, off, end), Events.intendedMicros(a, off, end),
                                 Events.seq(a, off, end));
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
        private void closed(Conn c, byte[] a, int off, int n) {
            int code = n >= 2 ? ((a[off] & 0xFF) << 8) | (a[off + 1] & 0xFF) : 1005;
            String reason = n > 2 ? new String(a, off + 2, n - 2, StandardCharsets.UTF_8) : "";
            try {
                send(c, masked(OP_CLOSE, n >= 2 ? a : EMPTY, off, n >= 2 ? 2 : 0));
            } catch (IOException e) {
                // the server may be gone already
            }
            c.phase = CLOSED;
            closeChannel(c);
            c.receiver.closed = true;
            c.receiver.release();
            if (!closing) {
                stats.closedEarly.increment();
                stats.error("websocket closed by the server: " + code + " " + reason);
            }
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

        /** Writes {@code b}; what the socket does not take now waits for OP_WRITE. */
        private void send(Conn c, ByteBuffer b) throws IOException {
            if (c.out != null) {
                ByteBuffer joined = ByteBuffer.allocate(c.out.remaining() + b.remaining());
                c.out = joined.put(c.out).put(b).flip();
                return;
            }
            c.channel.write(b);
            if (b.hasRemaining()) {
                c.out = ByteBuffer.allocate(b.remaining()).put(b).flip();
                c.key.interestOps(c.key.interestOps() | SelectionKey.OP_WRITE);
            }
        }

        private void flush(Conn c) throws IOException {
            if (c.out != null) {
                c.channel.write(c.out);
                if (c.out.hasRemaining()) {
                    return;
                }
                c.out = null;
            }
            c.key.interestOps(c.key.interestOps() & ~SelectionKey.OP_WRITE);
        }

        // ---- the end ----

        /**
         * A connection fails: before the upgrade completed, as {@link WsClients}'s failed open; after it, as
         * {@code WsClients.Listener.onError} (counted as closed early unless {@link #closing}).
         */
        private void fail(Conn c, String what) {
            if (c.phase == CLOSED) {
                return;
            }
            boolean opening = c.phase < OPEN;
            if (opening) {
                upgrading--;
            }
            c.phase = CLOSED;
            closeChannel(c);
            c.receiver.closed = true;
            c.receiver.release();
            if (opening) {
                stats.error("websocket open failed: " + what);
            } else if (!closing) {
                stats.closedEarly.increment();
                stats.error("websocket failed: " + what);
            }
        }

        private void closeChannel(Conn c) {
            c.carry = null;
            c.carryLength = 0;
            c.message = null;
            c.messageLength = 0;
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
