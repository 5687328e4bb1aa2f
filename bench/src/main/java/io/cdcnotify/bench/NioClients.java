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
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Semaphore;

/**
 * What {@link NioSseClients} and {@link NioWsClients} share: selector threads, each one {@link Selector} and its
 * share of the connections (round-robin); the connect, the writes, the read loop into one 64 KiB buffer per
 * thread, the bytes a read cut short, the timeout from the connect to the response's head, and a connection's
 * end. A subclass's {@link Loop} says what to send once connected, how to parse what is read, and how a failure
 * is counted.
 */
abstract class NioClients<C extends NioClients.Conn> {

    /** From the connect to the response's head; the JDK clients' connect timeout is as long. */
    static final long RESPONSE_TIMEOUT_NANOS = 30_000_000_000L;
    static final int READ_BUFFER = 64 * 1024;
    /** A connection's buffer for bytes a read cut short starts at this size. */
    static final int CARRY_START = 4 * 1024;
    /** A connection's buffers up to this size stay with it; larger ones (a large event's) are dropped after use. */
    static final int KEEP_AT_MOST = 8 * 1024;
    static final int MAX_RESPONSE_HEAD = 16 * 1024;

    /** A connection's phases. */
    static final int CONNECTING = 0;
    static final int OPENING = 1;   // connected, waiting for the response's head
    static final int OPEN = 2;
    static final int CLOSED = 3;

    final Loop[] loops;
    final InetSocketAddress[] addresses;
    final String[] hosts;
    final String[] paths;
    private final Map<Integer, Integer> perTable = new HashMap<>();
    private int opened;
    final String key;
    final String tablePrefix;
    final Stats stats;
    volatile boolean closing;
    /**
     * The transport ({@link Stats#SSE} or {@link Stats#WS}), also for messages; the selector threads' names start
     * with {@code threadName}.
     */
    private final String name;
    private final String threadName;
    /** Put before a failure's exception and before the timeout's message. */
    private final String failPrefix;
    private final String timeoutWhat;

    /**
     * @param option      the option selecting this client, for the error on a bad URL
     * @param pathSuffix  appended to each URL's path
     */
    NioClients(String baseUrl, String key, String tablePrefix, Stats stats, int selectors, String option,
               String pathSuffix, String name, String threadName, String failPrefix, String timeoutWhat)
            throws IOException {
        // several instances, comma-separated: clients go to them round-robin
        URI[] uris = Arrays.stream(baseUrl.split(",")).map(String::trim).map(URI::create).toArray(URI[]::new);
        this.addresses = new InetSocketAddress[uris.length];
        this.hosts = new String[uris.length];
        this.paths = new String[uris.length];
        for (int i = 0; i < uris.length; i++) {
            URI u = uris[i];
            if (!"http".equalsIgnoreCase(u.getScheme()) || u.getHost() == null) {
                throw new IllegalArgumentException(option + " needs http://host:port URLs, got " + u);
            }
            int port = u.getPort() < 0 ? 80 : u.getPort();
            addresses[i] = new InetSocketAddress(u.getHost(), port); // resolved once, here
            hosts[i] = u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + port;
            String path = u.getRawPath() == null ? "" : u.getRawPath();
            paths[i] = (path.endsWith("/") ? path.substring(0, path.length() - 1) : path) + pathSuffix;
        }
        this.key = key;
        this.tablePrefix = tablePrefix;
        this.stats = stats;
        this.name = name;
        this.threadName = threadName;
        this.failPrefix = failPrefix;
        this.timeoutWhat = timeoutWhat;
        this.loops = new NioClients.Loop[Math.max(1, selectors)];
        for (int i = 0; i < loops.length; i++) {
            loops[i] = newLoop(i);
        }
        for (Loop l : loops) {
            l.thread.start();
        }
    }

    /** A selector thread (not started); called from the constructor. */
    abstract Loop newLoop(int index) throws IOException;

    /** A new connection of table {@code table} to instance {@code target}, not yet connected. */
    abstract C newConn(Stats.Receiver receiver, int table, ClientFilter filter, int target);

    /**
     * Opens one connection of table {@code table} on the next selector thread; {@code gate} is acquired here and
     * released once the client is subscribed or its connection has failed.
     */
    public void open(int table, ClientFilter filter, Semaphore gate) throws InterruptedException {
        gate.acquire();
        Stats.Receiver receiver = stats.newReceiver(name, table, filter);
        receiver.hold(gate); // released at `subscribed`, or when the connection fails
        loops[opened++ % loops.length].add(newConn(receiver, table, filter, instance(table)));
    }

    /** A table's clients rotate over the instances, starting at a different one per table. */
    final int instance(int table) {
        int k = perTable.merge(table, 1, Integer::sum) - 1;
        return (table + k) % addresses.length;
    }

    public void closing() {
        closing = true;
    }

    /** Closes every connection (no close handshake) and stops the selector threads. */
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

    /** Counts {@code what} as an error and the connection as closed early, unless {@link #closing}. */
    final void closedEarly(String what) {
        if (!closing) {
            stats.closedEarly.increment();
            stats.error(what);
        }
    }

    /** {@code buf}, or a copy of it at least {@code need} long (doubling from {@code CARRY_START}). */
    static byte[] room(byte[] buf, int need) {
        if (buf != null && buf.length >= need) {
            return buf;
        }
        int size = Math.max(CARRY_START, buf == null ? 0 : buf.length);
        while (size < need) {
            size *= 2;
        }
        return buf == null ? new byte[size] : Arrays.copyOf(buf, size);
    }

    /** One connection; touched by its selector thread only (after {@link Loop#add}). */
    abstract static class Conn {
        final Stats.Receiver receiver;
        final int target;
        SocketChannel channel;
        SelectionKey key;
        int phase = CONNECTING;
        long deadline;
        /** Bytes a write left over; written when the socket can take them. */
        ByteBuffer out;
        /** Received bytes not yet parsed: the start of a message a read (or a chunk) cut short. */
        byte[] carry;
        int carryLength;

        Conn(Stats.Receiver receiver, int target) {
            this.receiver = receiver;
            this.target = target;
        }

        /** Drops the subclass's buffers as the connection closes. */
        void drop() {
        }
    }

    /** One selector thread and its connections. */
    abstract class Loop implements Runnable {
        final Selector selector;
        final Thread thread;
        /** Connections to register: {@link #open} runs on another thread, and only this one touches the selector. */
        final ConcurrentLinkedQueue<C> pending = new ConcurrentLinkedQueue<>();
        final ByteBuffer in = ByteBuffer.allocate(READ_BUFFER);
        /** Connections without their response head yet (for the timeout). */
        int waiting;
        long nextTimeoutCheck = System.nanoTime();
        volatile boolean stop;

        Loop(int index) throws IOException {
            selector = Selector.open();
            thread = Thread.ofPlatform().name(threadName + "-" + index).daemon().unstarted(this);
        }

        // ---- what a subclass does ----

        /** Connected (phase OPENING, interested in reads): sends the request. */
        abstract void connected(C c) throws IOException;

        /** {@code n} bytes read into {@code a}. */
        abstract void received(C c, byte[] a, int n) throws IOException;

        /** The server closed the connection: the failure's message. */
        abstract String ended(C c);

        /** Parses what it can of {@code a[off, end)} (for {@link #carried}); where it stopped. */
        abstract int parse(C c, byte[] a, int off, int end) throws IOException;

        /**
         * Counts a failure (the connection is closed already); {@code opening}: before its response's head.
         * By default as closed early.
         */
        void failed(C c, boolean opening, String what) {
            closedEarly(what);
        }

        /** The most bytes a connection may carry over; {@link #carryLimitWhat} says what. */
        int carryLimit() {
            return Integer.MAX_VALUE;
        }

        String carryLimitWhat() {
            return "message";
        }

        // ---- the loop ----

        void add(C c) {
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
                        stats.error(name + " selector thread: " + t);
                        System.err.println(threadName + " selector thread: " + t);
                    }
                }
            } finally {
                for (SelectionKey k : selector.keys()) {
                    end(conn(k));
                }
                C c;
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

        @SuppressWarnings("unchecked")
        private C conn(SelectionKey k) {
            return (C) k.attachment();
        }

        private void register() {
            C c;
            while (!stop && (c = pending.poll()) != null) {
                waiting++;
                c.deadline = System.nanoTime() + RESPONSE_TIMEOUT_NANOS;
                try {
                    c.channel = SocketChannel.open();
                    c.channel.configureBlocking(false);
                    c.channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                    c.key = c.channel.register(selector, 0, c);
                    if (c.channel.connect(addresses[c.target])) {
                        connect(c);
                    } else {
                        c.key.interestOps(SelectionKey.OP_CONNECT);
                    }
                } catch (Throwable t) {
                    fail(c, failPrefix + t);
                }
            }
        }

        /** Once a second: connections without a response head within the timeout fail. */
        private void timeouts() {
            long now = System.nanoTime();
            if (waiting == 0 || now - nextTimeoutCheck < 0) {
                return;
            }
            nextTimeoutCheck = now + 1_000_000_000L;
            for (SelectionKey k : selector.keys()) {
                C c = conn(k);
                if (c.phase < OPEN && now - c.deadline > 0) {
                    fail(c, timeoutWhat + " within " + RESPONSE_TIMEOUT_NANOS / 1_000_000_000L + " s");
                }
            }
        }

        private void ready(SelectionKey k) {
            C c = conn(k);
            try {
                if (!k.isValid()) {
                    return;
                }
                int ops = k.readyOps();
                if ((ops & SelectionKey.OP_CONNECT) != 0 && c.channel.finishConnect()) {
                    connect(c);
                }
                if ((ops & SelectionKey.OP_WRITE) != 0 && c.phase != CLOSED) {
                    flush(c);
                }
                if ((ops & SelectionKey.OP_READ) != 0 && c.phase != CLOSED) {
                    read(c);
                }
            } catch (Throwable t) {
                fail(c, failPrefix + t);
            }
        }

        private void connect(C c) throws IOException {
            c.phase = OPENING;
            c.key.interestOps(SelectionKey.OP_READ);
            connected(c);
        }

        /** The response's head is in: the connection is open. */
        final void opened(C c) {
            c.phase = OPEN;
            waiting--;
        }

        // ---- writing ----

        /** Writes {@code b}; what the socket does not take now waits for OP_WRITE. */
        final void send(C c, ByteBuffer b) throws IOException {
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

        private void flush(C c) throws IOException {
            if (c.out != null) {
                c.channel.write(c.out);
                if (c.out.hasRemaining()) {
                    return;
                }
                c.out = null;
            }
            c.key.interestOps(c.key.interestOps() & ~SelectionKey.OP_WRITE);
        }

        // ---- reading ----

        private void read(C c) throws IOException {
            for (int round = 0; round < 4; round++) {
                ByteBuffer buf = in;
                buf.clear();
                int n = c.channel.read(buf);
                if (n < 0) {
                    fail(c, ended(c));
                    return;
                }
                if (n == 0) {
                    return;
                }
                received(c, buf.array(), n);
                if (c.phase == CLOSED || n < buf.capacity()) {
                    return; // the socket is drained; otherwise read on (a few rounds, then the others' turn)
                }
            }
        }

        /**
         * Bytes {@code a[off, end)}: {@link #parse}s what they complete and keeps the start of an incomplete
         * message. Without carried bytes, they are parsed where they are (in the read buffer).
         */
        final void carried(C c, byte[] a, int off, int end) throws IOException {
            if (c.carryLength == 0) {
                int used = parse(c, a, off, end);
                if (c.phase != CLOSED && used < end) {
                    keep(c, a, used, end - used);
                }
                return;
            }
            keep(c, a, off, end - off);
            int used = parse(c, c.carry, 0, c.carryLength);
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

        /** Appends {@code a[off, off + n)} to the connection's unparsed bytes, growing its buffer as needed. */
        private void keep(C c, byte[] a, int off, int n) throws ProtocolException {
            int need = c.carryLength + n;
            if (need > carryLimit()) {
                throw new ProtocolException(carryLimitWhat() + " over " + carryLimit() + " bytes");
            }
            c.carry = room(c.carry, need);
            System.arraycopy(a, off, c.carry, c.carryLength, n);
            c.carryLength = need;
        }

        // ---- the end ----

        /** A connection ends or fails: closed, its gate released, and counted by {@link #failed}. */
        final void fail(C c, String what) {
            if (c.phase == CLOSED) {
                return;
            }
            boolean opening = c.phase < OPEN;
            if (opening) {
                waiting--;
            }
            finish(c);
            failed(c, opening, what);
        }

        /** Closed, its receiver closed and its gate released (counting is the caller's). */
        final void finish(C c) {
            c.phase = CLOSED;
            closeChannel(c);
            c.receiver.closed = true;
            c.receiver.release();
        }

        /** At close: the channel closed without counting anything. */
        private void end(C c) {
            c.phase = CLOSED;
            closeChannel(c);
        }

        private void closeChannel(C c) {
            c.carry = null;
            c.carryLength = 0;
            c.out = null;
            c.drop();
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
