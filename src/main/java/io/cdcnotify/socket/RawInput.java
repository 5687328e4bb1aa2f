package io.cdcnotify.socket;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.util.Optional;

import io.helidon.common.socket.HelidonSocket;
import io.helidon.common.socket.PlainSocket;

/**
 * The JDK socket's own input stream under one of Helidon's plain sockets, for a thread that waits a whole
 * connection long in a read of it (an SSE stream's handler, {@code sse/SseSocket}).
 *
 * <p>Why not through Helidon: a virtual thread parked in a read keeps its whole stack in the heap, and the frames
 * of the deepest wait it ever made (docs/benchmarks.md, "Session 8"). Reading through {@link PlainSocket#get()}
 * adds four frames (its bridge, Helidon's idle-watching stream, {@code InputStream.read(byte[])}) under every
 * stream, and a copy of each read; the JDK's stream over a channel adds three more ({@link #channel} has none).
 * Helidon 4.5 keeps the socket in a private field, read here by reflection
 * (allowed on the class path); if a later Helidon moves it, {@link #of} finds nothing and the caller reads
 * through Helidon as before.
 */
public final class RawInput {

    private static final Field FIELD = field();

    private RawInput() {
    }

    /** The input stream of the JDK socket under {@code socket}, if it is a plain socket and can be reached. */
    public static Optional<InputStream> of(HelidonSocket socket) {
        if (FIELD == null || !(socket instanceof PlainSocket)) {
            return Optional.empty();
        }
        try {
            return Optional.of(((Socket) FIELD.get(socket)).getInputStream());
        } catch (ReflectiveOperationException | IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The channel of the JDK socket under {@code socket}, if it is a plain socket accepted from a server socket
     * channel (Helidon 4.5 accepts so) and can be reached: a blocking read of it parks a virtual thread two frames
     * shallower than its input stream's.
     */
    public static Optional<SocketChannel> channel(HelidonSocket socket) {
        if (FIELD == null || !(socket instanceof PlainSocket)) {
            return Optional.empty();
        }
        try {
            return Optional.ofNullable(((Socket) FIELD.get(socket)).getChannel());
        } catch (ReflectiveOperationException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static Field field() {
        try {
            Field f = PlainSocket.class.getDeclaredField("delegate");
            if (f.getType() != Socket.class) {
                return null;
            }
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }
}
