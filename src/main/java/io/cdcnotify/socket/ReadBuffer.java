package io.cdcnotify.socket;

import java.lang.reflect.Field;
import java.util.concurrent.atomic.AtomicBoolean;

import io.helidon.common.socket.HelidonSocket;
import io.helidon.common.socket.PlainSocket;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shrinks the read buffer Helidon keeps for each plain socket's whole life, for connections that read little once
 * their request is in: an upgraded WebSocket reads small client messages, an SSE stream reads nothing.
 *
 * <p>Helidon 4.5's {@link PlainSocket} (the listener's socket with {@code server.use-nio: false}) reads through a
 * private 8 KiB {@code readBuffer} and hands out a copy of what each read got. That array is the largest object of
 * an idle connection (docs/benchmarks.md, "Memory per connection"); a smaller one only means that more than its
 * size arriving at once takes several reads. Helidon offers no setting for it, so the final field is replaced by
 * reflection (allowed on the class path, up to JDK 25 without a warning). Call it from the one thread that reads
 * the socket, before its next read. If a later Helidon moves the field, or the JDK refuses to change a final
 * field, nothing changes but the memory: it is logged once, and {@code socket/ReadBufferTest} fails.
 */
public final class ReadBuffer {

    private static final Logger LOG = LoggerFactory.getLogger(ReadBuffer.class);
    private static final Field FIELD = field();
    private static final AtomicBoolean WARNED = new AtomicBoolean();

    private ReadBuffer() {
    }

    /**
     * Gives a plain socket a read buffer of {@code bytes}; true if it has one that small now. Other sockets (NIO,
     * which keeps a direct buffer of its own) are left as they are.
     */
    public static boolean shrink(HelidonSocket socket, int bytes) {
        if (!(socket instanceof PlainSocket)) {
            return false;
        }
        if (FIELD != null) {
            try {
                if (((byte[]) FIELD.get(socket)).length > bytes) {
                    FIELD.set(socket, new byte[bytes]);
                }
                return true;
            } catch (ReflectiveOperationException | RuntimeException e) {
                // below: logged once
            }
        }
        if (WARNED.compareAndSet(false, true)) {
            LOG.warn("could not shrink Helidon's per-socket read buffer: each connection keeps 8 KiB more");
        }
        return false;
    }

    private static Field field() {
        try {
            Field f = PlainSocket.class.getDeclaredField("readBuffer");
            if (f.getType() != byte[].class) {
                return null;
            }
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
