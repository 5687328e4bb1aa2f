package io.cdcnotify.listen;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import javax.net.SocketFactory;

/**
 * Rings the outbox reader the moment any bytes arrive on the LISTEN connection, from inside pgjdbc's own read.
 *
 * <p>Why: pgjdbc's {@code getNotifications} keeps reading while notifications arrive less than a millisecond apart,
 * so a ring after it returns can come tens of milliseconds after the first commit under a steady flood. Bytes on
 * the LISTEN socket are (almost always) a notification, so ringing on them wakes the reader at once; a ring for
 * other bytes (the answer to the validity check) costs one empty read.
 *
 * <p>pgjdbc builds this class by name (connection property {@code socketFactory}) with the per-connection id in
 * {@code socketFactoryArg}; the ring is found in a static registry under that id, so it must be public. The ring
 * must never block: it runs on the pgjdbc (doorbell) thread.
 */
public final class RingingSocketFactory extends SocketFactory {

    private static final Map<String, Runnable> RINGS = new ConcurrentHashMap<>();

    private final String id;

    /** Called by pgjdbc with the value of {@code socketFactoryArg}. */
    public RingingSocketFactory(String id) {
        this.id = id;
    }

    /** Registers {@code ring} under {@code id} until {@link #unregister}; the LISTEN connection's properties name it. */
    static void register(String id, Runnable ring) {
        RINGS.put(id, ring);
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
                in = new RingingInputStream(super.getInputStream(), id);
            }
            return in;
        }
    }

    private static final class RingingInputStream extends FilterInputStream {

        private final String id;

        RingingInputStream(InputStream in, String id) {
            super(in);
            this.id = id;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                ring();
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                ring();
            }
            return n;
        }

        private void ring() {
            Runnable ring = RINGS.get(id);
            if (ring != null) {
                ring.run();
            }
        }
    }
}
