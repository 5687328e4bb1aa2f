package io.cdcnotify.listen;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;

import javax.net.SocketFactory;

/**
 * Rings the outbox reader the moment any bytes arrive on the LISTEN connection, from inside pgjdbc's own read.
 *
 * <p>Why: pgjdbc's {@code getNotifications} keeps reading while notifications arrive less than a millisecond apart,
 * so a ring after it returns can come tens of milliseconds after the first commit under a steady flood. Bytes on
 * the LISTEN socket are (almost always) a notification, so ringing on them wakes the reader at once; a ring for
 * other bytes (the answer to the validity check) costs one empty read.
 *
 * <p>With a gap, the socket is read at most once per gap while bytes keep coming: a read that follows one that
 * returned bytes less than a gap ago first sleeps out the rest of it, and then takes everything that arrived
 * meanwhile in one go. Under a flood of notifications (one per committing transaction, thousands a second) the
 * thread wakes once per gap instead of once per notification, and pgjdbc's one-millisecond peeks between
 * notifications stop; the first bytes after a quiet spell still ring at once. The reader reads at most once per
 * coalescing interval anyway, so a gap no longer than that delays no read (the listener passes its current one).
 *
 * <p>Under such a flood {@code getNotifications} does not return at all. When its owner wants it back (to UNLISTEN),
 * {@code letGo} makes pgjdbc's next one-millisecond peek for a further notification end as if nothing had come: the
 * read throws {@link SocketTimeoutException} before touching the socket, which pgjdbc's peek takes for "no message
 * pending", and {@code getNotifications} returns. Only that peek (the socket's timeout is 1 ms) is cut short: it
 * runs between two messages, so no message is split.
 *
 * <p>pgjdbc builds this class by name (connection property {@code socketFactory}) with the per-connection id in
 * {@code socketFactoryArg}; the ring is found in a static registry under that id, so it must be public. The ring
 * must never block: it runs on the pgjdbc (doorbell) thread.
 */
public final class RingingSocketFactory extends SocketFactory {

    private static final Map<String, Bell> RINGS = new ConcurrentHashMap<>();

    /**
     * What a connection's reads ring, the least time between two reads while bytes keep coming, and whether
     * pgjdbc's peeks between notifications should end at once.
     */
    private record Bell(Runnable ring, LongSupplier gapNanos, BooleanSupplier letGo) { }

    /** pgjdbc's socket timeout while it peeks for a further message between notifications. */
    private static final int PEEK_TIMEOUT_MILLIS = 1;

    private final String id;

    /** Called by pgjdbc with the value of {@code socketFactoryArg}. */
    public RingingSocketFactory(String id) {
        this.id = id;
    }

    /** Registers {@code ring} under {@code id} until {@link #unregister}; the LISTEN connection's properties name it. */
    static void register(String id, Runnable ring) {
        register(id, ring, () -> 0, () -> false);
    }

    /**
     * As {@link #register(String, Runnable)}, reading the socket at most once per gap (in nanoseconds, read at each
     * read: it may change) while bytes keep coming, and ending pgjdbc's peeks between notifications at once while
     * {@code letGo} is true.
     */
    static void register(String id, Runnable ring, LongSupplier gapNanos, BooleanSupplier letGo) {
        RINGS.put(id, new Bell(ring, gapNanos, letGo));
    }

    static void unregister(String id) {
        RINGS.remove(id);
    }

    /** Rings registered now (a test checks that closed connections leave none behind). */
    static int registered() {
        return RINGS.size();
    }

    @Override
    public Socket createSocket() {
        return new RingingSocket(id);
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        return connected(new InetSocketAddress(host, port), null);
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
        return connected(new InetSocketAddress(host, port), new InetSocketAddress(localHost, localPort));
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
        return connected(new InetSocketAddress(host, port), null);
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
            throws IOException {
        return connected(new InetSocketAddress(address, port), new InetSocketAddress(localAddress, localPort));
    }

    /** A ringing socket connected to {@code remote}, bound first to {@code local} when one is given. */
    private Socket connected(InetSocketAddress remote, InetSocketAddress local) throws IOException {
        Socket s = createSocket();
        if (local != null) {
            s.bind(local);
        }
        s.connect(remote);
        return s;
    }

    private static final class RingingSocket extends Socket {

        private final String id;
        private InputStream in;

        RingingSocket(String id) {
            this.id = id;
        }

        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (in == null) {
                in = new RingingInputStream(super.getInputStream(), id, this);
            }
            return in;
        }
    }

    private static final class RingingInputStream extends FilterInputStream {

        private final String id;
        private final Socket socket;

        RingingInputStream(InputStream in, String id, Socket socket) {
            super(in);
            this.id = id;
            this.socket = socket;
        }

        /** nanoTime of the last read that returned bytes; only pgjdbc's (doorbell) thread reads. */
        private long lastBytes = System.nanoTime() - TimeUnit.DAYS.toNanos(1);

        @Override
        public int read() throws IOException {
            Bell bell = awaitGap();
            int b = super.read();
            if (b >= 0) {
                rang(bell);
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Bell bell = awaitGap();
            int n = in.read(b, off, len);
            if (n > 0) {
                rang(bell);
            }
            return n;
        }

        /**
         * Sleeps out the rest of the gap after the last read that returned bytes; returns the connection's bell.
         * Ends a peek between notifications at once while the bell says to let go.
         */
        private Bell awaitGap() throws IOException {
            Bell bell = RINGS.get(id);
            if (bell != null && bell.letGo().getAsBoolean() && socket.getSoTimeout() == PEEK_TIMEOUT_MILLIS) {
                throw new SocketTimeoutException("the LISTEN connection's owner wants getNotifications back");
            }
            long gap = bell == null ? 0 : bell.gapNanos().getAsLong();
            if (gap > 0) {
                long wait = lastBytes + gap - System.nanoTime();
                if (wait > 0) {
                    try {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new InterruptedIOException("interrupted between reads of the LISTEN connection");
                    }
                }
            }
            return bell;
        }

        private void rang(Bell bell) {
            lastBytes = System.nanoTime();
            if (bell != null) {
                bell.ring().run();
            }
        }
    }
}
