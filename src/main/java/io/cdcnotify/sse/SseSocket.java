package io.cdcnotify.sse;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Field;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

import io.cdcnotify.socket.RawInput;
import io.cdcnotify.socket.ReadBuffer;
import io.helidon.common.socket.HelidonSocket;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http.ServerRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The socket under an SSE stream, for the two things the response stream cannot do: notice at once that the
 * client went away (a stream nobody reads from is otherwise noticed only when a write fails, up to two
 * keepalives later), and be closed from outside: to cut a writer stuck in a write to a peer that stopped
 * reading, and to end the stream's handler, which waits in a read of it.
 *
 * <p>Helidon 4.5 has no public way from a {@link ServerRequest} to its connection: the HTTP/1 request keeps its
 * {@link ConnectionContext} in a private field, read here by reflection (the service runs on the class path,
 * where that is allowed). If a later Helidon moves it, {@link #of} finds nothing, logs it once, and streams
 * work as before, without the two features; {@code contract/SseTest} fails then.
 */
final class SseSocket {

    private static final Logger LOG = LoggerFactory.getLogger(SseSocket.class);
    private static final ConcurrentHashMap<Class<?>, Optional<Field>> FIELDS = new ConcurrentHashMap<>();
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    /** Bytes one read of {@link #awaitInputEnd} takes at most: the client has nothing to send, anything it does is dropped. */
    private static final int READ_BUFFER = 256;
    /** Where {@link #awaitInputEnd} drops what a client sends: shared, never read. */
    private static final ByteBuffer DISCARD = ByteBuffer.allocateDirect(READ_BUFFER);
    /** The same for the stream fallback. */
    private static final byte[] DISCARD_ARRAY = new byte[READ_BUFFER];

    private final HelidonSocket socket;

    private SseSocket(HelidonSocket socket) {
        this.socket = socket;
    }

    /** The socket of this request's connection, if Helidon lets us reach it. */
    static Optional<SseSocket> of(ServerRequest req) {
        try {
            Optional<Field> field = FIELDS.computeIfAbsent(req.getClass(), SseSocket::contextField);
            if (field.isPresent() && field.get().get(req) instanceof ConnectionContext ctx) {
                return Optional.of(new SseSocket(ctx.serverSocket()));
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // below: logged once
        }
        if (WARNED.compareAndSet(false, true)) {
            LOG.warn("the connection under an SSE request is out of reach: closed streams are noticed only when a "
                             + "write fails, and a stuck stream cannot be cut");
        }
        return Optional.empty();
    }

    private static Optional<Field> contextField(Class<?> type) {
        for (Class<?> c = type; c != null; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (ConnectionContext.class.isAssignableFrom(f.getType())) {
                    try {
                        f.setAccessible(true);
                        return Optional.of(f);
                    } catch (RuntimeException e) {
                        return Optional.empty();
                    }
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Reads the connection's input on the calling thread until it ends: a client sends nothing after its request,
     * so the end of the input (or an error reading it) means it is gone, and so does {@link #close} from another
     * thread. Anything the client sends meanwhile is dropped. The response asks Helidon to close the connection
     * ({@code Connection: close}), so nothing else reads from it.
     *
     * <p>The thread parks here for the stream's whole life, and a parked virtual thread keeps every frame of its
     * stack in the heap: so the read is of the JDK channel itself ({@link RawInput#channel}), in this frame, six
     * frames shallower than through Helidon. What it reads goes to one direct buffer that every stream shares
     * (each through its own view): nobody reads it back, so concurrent writes into it do no harm.
     */
    void awaitInputEnd() {
        Optional<SocketChannel> channel = RawInput.channel(socket);
        if (channel.isEmpty()) {
            awaitInputEndThroughStreams();
            return;
        }
        ReadBuffer.shrink(socket, 1); // Helidon reads no more of this connection
        ByteBuffer discard = DISCARD.duplicate();
        try {
            while (channel.get().read(discard.clear()) >= 0) {
                // dropped
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("sse connection input ended: {}", e.toString());
        }
    }

    /** The same where the channel is out of reach: through the JDK socket's stream, or Helidon's (TLS). */
    private void awaitInputEndThroughStreams() {
        Optional<InputStream> raw = RawInput.of(socket);
        if (raw.isPresent()) {
            ReadBuffer.shrink(socket, 1);
            awaitEnd(raw.get());
            return;
        }
        ReadBuffer.shrink(socket, READ_BUFFER);
        try {
            // get() blocks for input and answers null at its end (read(BufferData) cannot tell the end apart)
            while (true) {
                try {
                    if (socket.get() == null) {
                        return;
                    }
                } catch (UncheckedIOException e) {
                    if (e.getCause() instanceof SocketTimeoutException) {
                        continue; // the listener's read timeout: the client is merely quiet
                    }
                    throw e;
                }
            }
        } catch (RuntimeException e) {
            LOG.debug("sse connection input ended: {}", e.toString());
        }
    }

    private static void awaitEnd(InputStream in) {
        try {
            while (true) {
                try {
                    if (in.read(DISCARD_ARRAY, 0, DISCARD_ARRAY.length) < 0) {
                        return;
                    }
                } catch (SocketTimeoutException e) {
                    // the listener's read timeout: the client is merely quiet
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("sse connection input ended: {}", e.toString());
        }
    }

    /** Closes the socket; a writer stuck in a write to it fails at once. */
    void close() {
        try {
            socket.close();
        } catch (RuntimeException e) {
            // already closed
        }
    }
}
