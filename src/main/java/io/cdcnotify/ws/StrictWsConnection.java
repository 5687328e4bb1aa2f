package io.cdcnotify.ws;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

import io.cdcnotify.socket.ReadBuffer;
import io.helidon.common.buffers.BufferData;
import io.helidon.common.buffers.DataReader;
import io.helidon.common.concurrency.limits.Limit;
import io.helidon.common.concurrency.limits.LimitException;
import io.helidon.common.socket.SocketContext;
import io.helidon.common.socket.SocketWriterException;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.ServerConnectionException;
import io.helidon.webserver.spi.ServerConnection;
import io.helidon.websocket.WsListener;
import io.helidon.websocket.WsSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One upgraded WebSocket connection, in place of Helidon's {@code WsConnection}: it reads client frames as RFC 6455
 * says a server must, and writes frames for whichever thread sends.
 *
 * <p>Why our own: Helidon 4.5.0's connection accepts what the RFC says to fail — invalid UTF-8 (silently replaced),
 * control frames longer than 125 bytes or fragmented, a new data frame inside a fragmented message — and answers a
 * reserved opcode by letting an exception escape, after which the server writes a raw {@code HTTP/1.1 500} into the
 * WebSocket stream and logs a stack trace. Here each violation closes the connection with its code (1002 protocol
 * error, 1007 invalid UTF-8, 1009 too large: a frame, or a text message across its frames, over the frame limit)
 * and one log line without a trace.
 *
 * <p>What the listener sees is what Helidon's connection gives it (text per frame with its {@code last} flag;
 * pings; the close), with two differences: text is decoded across fragment boundaries, so a character split
 * between two frames arrives whole; and the listener hears of the end exactly once, as {@code onClose} (1006 when
 * the peer vanished without a close frame) or {@code onError}, however the connection ends.
 */
final class StrictWsConnection implements ServerConnection, WsSession {

    private static final Logger LOG = LoggerFactory.getLogger(StrictWsConnection.class);

    static final int PROTOCOL_ERROR = 1002;
    static final int INVALID_DATA = 1007;
    static final int TOO_BIG = 1009;
    private static final int GOING_AWAY = 1001;
    private static final int INTERNAL = 1011;
    private static final int TRY_AGAIN_LATER = 1013;
    private static final int ABNORMAL = 1006;
    private static final int MAX_CONTROL_PAYLOAD = 125;

    private static final int CONTINUATION = 0x0;
    private static final int TEXT = 0x1;
    private static final int BINARY = 0x2;
    private static final int CLOSE = 0x8;
    /** How long a client may take to answer the server's close frame before its socket is closed. */
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(2);
    /** Bytes a client may still send after the close that answered its violation before its socket is closed. */
    private static final long DISCARD_BYTES = 256 * 1024;
    /**
     * How long a client that broke the protocol may send nothing before its socket is closed: bytes it had on
     * their way have come by then, and it has had our close frame.
     */
    private static final Duration DISCARD_QUIET = Duration.ofMillis(200);
    private static final int PING = 0x9;
    private static final int PONG = 0xA;
    /**
     * Frames read in a row before the reader lets other virtual threads run. A client that sends without pause
     * (a flood) never makes the read wait, and a virtual thread that never waits keeps its carrier: with one
     * carrier per core, two such readers would starve every other connection, the hub's tick and the timers
     * that cut the flooders themselves.
     */
    private static final int FRAMES_PER_TURN = 64;
    /**
     * Bytes one read of the socket takes at most, instead of Helidon's 8 KiB kept per connection: a client's
     * messages are small (a subscribe with its tables fits), a larger frame takes several reads, and a flood of
     * control frames still gets eight or more per read.
     */
    private static final int READ_BUFFER = 1024;

    private final ConnectionContext ctx;
    private final HttpPrologue prologue;
    private final WsListener listener;
    private final int maxFrameLength;
    private final Optional<String> subProtocol;
    private final DataReader reader;

    private final ReentrantLock sendLock = new ReentrantLock();
    private final AtomicBoolean closeSent = new AtomicBoolean();
    private final AtomicBoolean endNotified = new AtomicBoolean();
    /** Whether a fragmented message is being sent, so that its later frames go out as continuations. Under sendLock. */
    private boolean sendingFragments;

    /** The data message being received: none, or TEXT / BINARY until its last frame. Reader thread only. */
    private int receiving = -1;
    /** UTF-8 decoding of the text message being received, made on first use. Reader thread only. */
    private CharsetDecoder decoder;
    /** Bytes of a character that continues in the next frame (at most 3). Reader thread only. */
    private byte[] carry = new byte[0];
    /** Bytes of the text message being received so far, across its frames. Reader thread only. */
    private long textBytes;

    private volatile Thread readerThread;
    /** Set when the read loop has ended: Helidon closes the socket then, and the close wait has nothing to do. */
    private volatile boolean readerDone;
    /** When the reader last discarded bytes after a violation's close (see discardUntilClientCloses). */
    private volatile long discardedAt;
    private volatile boolean canRun = true;
    private volatile boolean readingNetwork;
    private volatile long lastFrameNanos = System.nanoTime();

    /** @param subProtocol the one the upgrade answered with, if any */
    StrictWsConnection(ConnectionContext ctx, HttpPrologue prologue, WsListener listener, int maxFrameLength,
                       Optional<String> subProtocol) {
        this.ctx = ctx;
        this.prologue = prologue;
        this.listener = listener;
        this.maxFrameLength = maxFrameLength;
        this.subProtocol = subProtocol;
        this.reader = ctx.dataReader();
    }

    /** A frame the client broke the protocol with: the close code and reason to answer it with. */
    private static final class Violation extends RuntimeException {
        /** {@link #owed} for a violation found inside a frame's header: where the next frame starts is unknown. */
        static final long MID_HEADER = -1;

        private final int code;
        /** Bytes of the offending frame still unread (0: the next byte starts a frame), or {@link #MID_HEADER}. */
        private final long owed;

        Violation(int code, String reason) {
            this(code, reason, 0);
        }

        Violation(int code, String reason, long owed) {
            super(reason, null, false, false);
            this.code = code;
            this.owed = owed;
        }
    }

    private record Frame(boolean fin, int opcode, byte[] payload) {
    }

    @Override
    public void handle(Limit limit) {
        readerThread = Thread.currentThread();
        ReadBuffer.shrink(ctx.serverSocket(), READ_BUFFER);
        try {
            try {
                limit.invoke(() -> listener.onOpen(this));
            } catch (LimitException e) {
                closeAndNotify(TRY_AGAIN_LATER, "too many concurrent requests");
                discardUntilClientCloses(0);
                return;
            }
            int framesThisTurn = 0;
            while (canRun) {
                if (++framesThisTurn == FRAMES_PER_TURN) {
                    framesThisTurn = 0;
                    Thread.yield();
                }
                readingNetwork = true;
                Frame frame = readFrame();
                readingNetwork = false;
                lastFrameNanos = System.nanoTime();
                boolean more;
                try {
                    more = limit.invoke(() -> process(frame));
                } catch (LimitException e) {
                    closeAndNotify(TRY_AGAIN_LATER, "too many concurrent requests");
                    discardUntilClientCloses(0);
                    return;
                }
                if (!more) {
                    return;
                }
            }
            closeAndNotify(GOING_AWAY, "server closing the connection");
        } catch (Violation v) {
            LOG.debug("websocket protocol violation, closing with {}: {}", v.code, v.getMessage());
            closeAndNotify(v.code, v.getMessage());
            discardUntilClientCloses(v.owed);
        } catch (CloseConnectionException e) {
            // the socket is gone or was closed under us: nothing more can be written
            notifyEnd(() -> listener.onClose(this, ABNORMAL, "connection lost"));
            throw e;
        } catch (Exception e) {
            if (!canRun) { // stopping: the read was interrupted
                notifyEnd(() -> listener.onClose(this, GOING_AWAY, "server closing the connection"));
                return;
            }
            // a defect of ours, not the client's: once in the log with its trace, never to the client
            LOG.error("websocket connection failed", e);
            notifyEnd(() -> listener.onError(this, e));
            close(INTERNAL, "internal error");
        } finally {
            readerDone = true;
        }
    }

    @Override
    public WsSession send(String text, boolean last) {
        return send(TEXT, text.getBytes(StandardCharsets.UTF_8), last);
    }

    @Override
    public WsSession send(BufferData data, boolean last) {
        return send(BINARY, data.readBytes(), last);
    }

    @Override
    public WsSession ping(BufferData data) {
        return sendControl(PING, data.readBytes());
    }

    @Override
    public WsSession pong(BufferData data) {
        return sendControl(PONG, data.readBytes());
    }

    @Override
    public WsSession close(int code, String reason) {
        if (!closeSent.compareAndSet(false, true)) {
            return this;
        }
        byte[] text = reason.getBytes(StandardCharsets.UTF_8);
        int length = Math.min(text.length, MAX_CONTROL_PAYLOAD - 2);
        while (length > 0 && length < text.length && (text[length] & 0xC0) == 0x80) {
            length--; // do not cut a character in two: the reason must stay valid UTF-8
        }
        byte[] payload = new byte[2 + length];
        payload[0] = (byte) (code >>> 8);
        payload[1] = (byte) code;
        System.arraycopy(text, 0, payload, 2, length);
        try {
            return writeFrame(true, CLOSE, payload);
        } finally {
            closeSocketUnlessAnswered();
        }
    }

    /**
     * After our close frame a client has {@link #CLOSE_WAIT} to answer with its own; one that does not (it never
     * reads, or goes on flooding) would otherwise hold the read side open for as long as it likes. The socket is
     * closed under the reader, which then ends.
     */
    private void closeSocketUnlessAnswered() {
        Thread.ofVirtual().name("ws-close-wait").start(() -> {
            try {
                Thread.sleep(CLOSE_WAIT);
            } catch (InterruptedException e) {
                return;
            }
            if (!readerDone) {
                try {
                    ctx.serverSocket().close();
                } catch (RuntimeException e) {
                    // already gone
                }
            }
        });
    }

    @Override
    public WsSession terminate() {
        close(1000, "terminate");
        throw new CloseConnectionException("terminated");
    }

    @Override
    public Optional<String> subProtocol() {
        return subProtocol;
    }

    @Override
    public SocketContext socketContext() {
        return ctx;
    }

    @Override
    public HttpPrologue prologue() {
        return prologue;
    }

    @Override
    public Duration idleTime() {
        return Duration.ofNanos(System.nanoTime() - lastFrameNanos);
    }

    /** The server stops or finds the connection idle: end the read loop, interrupting a blocked read. */
    @Override
    public void close(boolean interrupt) {
        canRun = false;
        Thread t = readerThread;
        if (t != null && (interrupt || readingNetwork)) {
            t.interrupt();
        }
    }

    // ---- reading ----

    private Frame readFrame() {
        try {
            int b0 = reader.read() & 0xFF;
            int b1 = reader.read() & 0xFF;
            boolean fin = (b0 & 0x80) != 0;
            int opcode = b0 & 0x0F;
            if ((b0 & 0x70) != 0) {
                throw new Violation(PROTOCOL_ERROR, "reserved bits set without an extension", Violation.MID_HEADER);
            }
            boolean control = (opcode & 0x8) != 0;
            if (opcode != CONTINUATION && opcode != TEXT && opcode != BINARY && opcode != CLOSE && opcode != PING
                    && opcode != PONG) {
                throw new Violation(PROTOCOL_ERROR, "reserved opcode " + opcode, Violation.MID_HEADER);
            }
            if ((b1 & 0x80) == 0) {
                throw new Violation(PROTOCOL_ERROR, "unmasked client frame", Violation.MID_HEADER);
            }
            long length = b1 & 0x7F;
            if (control && (length > MAX_CONTROL_PAYLOAD || !fin)) {
                throw new Violation(PROTOCOL_ERROR, length > MAX_CONTROL_PAYLOAD ? "control frame longer than 125 bytes"
                                                                                 : "fragmented control frame",
                                    Violation.MID_HEADER);
            }
            length = payloadLength(b1);
            if (length < 0) {
                throw new Violation(PROTOCOL_ERROR, "frame length out of range", Violation.MID_HEADER);
            }
            if (length > maxFrameLength) {
                throw new Violation(TOO_BIG, "frame too large", 4 + length); // its mask and payload follow
            }
            byte[] mask = reader.readBytes(4);
            byte[] payload = length == 0 ? new byte[0] : reader.readBytes((int) length);
            for (int i = 0; i < payload.length; i++) {
                payload[i] ^= mask[i & 3];
            }
            return new Frame(fin, opcode, payload);
        } catch (DataReader.InsufficientDataAvailableException | java.io.UncheckedIOException e) {
            // the client went away, or the socket was closed under us (server stop, a cut-off from another thread)
            throw new CloseConnectionException("socket closed", e);
        }
    }

    /**
     * The payload length that a frame's second byte {@code b1} gives, with the 16- or 64-bit extended length
     * after it read (RFC 6455 section 5.2); negative when a 64-bit length has its top bit set.
     */
    private long payloadLength(int b1) {
        long length = b1 & 0x7F;
        if (length == 126) {
            return ((reader.read() & 0xFF) << 8) | (reader.read() & 0xFF);
        }
        if (length == 127) {
            length = 0;
            for (int i = 0; i < 8; i++) {
                length = (length << 8) | (reader.read() & 0xFF);
            }
        }
        return length;
    }

    /** Hands one frame to the listener; false once the connection is done. */
    private boolean process(Frame frame) {
        switch (frame.opcode()) {
            case TEXT, BINARY -> {
                if (receiving >= 0) {
                    throw new Violation(PROTOCOL_ERROR, "a new message inside a fragmented one");
                }
                receiving = frame.opcode();
                deliver(frame);
            }
            case CONTINUATION -> {
                if (receiving < 0) {
                    throw new Violation(PROTOCOL_ERROR, "continuation frame without a message");
                }
                deliver(frame);
            }
            case PING -> listener.onPing(this, BufferData.create(frame.payload()));
            case PONG -> listener.onPong(this, BufferData.create(frame.payload()));
            case CLOSE -> {
                receivedClose(frame.payload());
                return false;
            }
            default -> throw new Violation(PROTOCOL_ERROR, "reserved opcode " + frame.opcode());
        }
        return true;
    }

    private void deliver(Frame frame) {
        int type = receiving;
        if (frame.fin()) {
            receiving = -1;
        }
        if (type == BINARY) {
            listener.onMessage(this, BufferData.create(frame.payload()), frame.fin());
        } else {
            // the limit holds for a whole text message; binary ones are not part of the protocol, and not kept
            textBytes += frame.payload().length;
            if (textBytes > maxFrameLength) {
                throw new Violation(TOO_BIG, "frame too large");
            }
            if (frame.fin()) {
                textBytes = 0;
            }
            listener.onMessage(this, decode(frame.payload(), frame.fin()), frame.fin());
        }
    }

    /** Strict UTF-8 across the frames of one message: a character may be split between two of them. */
    private String decode(byte[] payload, boolean last) {
        if (decoder == null) {
            decoder = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
        }
        ByteBuffer in;
        if (carry.length == 0) {
            in = ByteBuffer.wrap(payload);
        } else {
            in = ByteBuffer.allocate(carry.length + payload.length).put(carry).put(payload).flip();
        }
        CharBuffer out = CharBuffer.allocate(in.remaining());
        CoderResult result = decoder.decode(in, out, last);
        if (result.isError() || (last && decoder.flush(out).isError())) {
            throw new Violation(INVALID_DATA, "invalid UTF-8 in a text message");
        }
        if (last) {
            if (in.hasRemaining()) {
                throw new Violation(INVALID_DATA, "invalid UTF-8 in a text message");
            }
            decoder.reset();
            carry = new byte[0];
        } else {
            carry = new byte[in.remaining()];
            in.get(carry);
        }
        return out.flip().toString();
    }

    /** The client's close: the listener hears its code and reason, and the close is answered. */
    private void receivedClose(byte[] payload) {
        int code = 1005; // the client gave none
        String reason = "";
        if (payload.length == 1) {
            throw new Violation(PROTOCOL_ERROR, "close frame with a one-byte payload");
        }
        if (payload.length >= 2) {
            code = ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF);
            if (!sendableCloseCode(code)) {
                throw new Violation(PROTOCOL_ERROR, "close code " + code + " may not be sent");
            }
            try {
                reason = StandardCharsets.UTF_8.newDecoder()
                        .decode(ByteBuffer.wrap(payload, 2, payload.length - 2)).toString();
            } catch (CharacterCodingException e) {
                throw new Violation(INVALID_DATA, "invalid UTF-8 in a close reason");
            }
        }
        int received = code;
        String why = reason;
        notifyEnd(() -> listener.onClose(this, received, why));
        close(1000, "");
    }

    /** Codes a peer may put in a close frame (RFC 6455 section 7.4). */
    private static boolean sendableCloseCode(int code) {
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    }

    // ---- writing ----

    private WsSession send(int opcode, byte[] payload, boolean last) {
        return writeFrame(last, opcode, payload);
    }

    private WsSession sendControl(int opcode, byte[] payload) {
        if (payload.length > MAX_CONTROL_PAYLOAD) {
            throw new IllegalArgumentException("a control frame carries at most 125 bytes");
        }
        return writeFrame(true, opcode, payload);
    }

    /**
     * One frame, header and payload in one buffer made for it: one socket write, and no buffer kept per
     * connection between frames (a kept one would grow to the largest event and stay).
     */
    private WsSession writeFrame(boolean fin, int opcode, byte[] payload) {
        int length = payload.length;
        int header = headerLength(length);
        byte[] frame = new byte[header + length];
        putHeader(frame, 0, true, 0, length);
        System.arraycopy(payload, 0, frame, header, length);
        sendLock.lock();
        try {
            int code = opcode;
            if (opcode == TEXT || opcode == BINARY) {
                if (sendingFragments) {
                    code = CONTINUATION;
                }
                sendingFragments = !fin;
            }
            frame[0] = (byte) ((fin ? 0x80 : 0) | code);
            ctx.dataWriter().writeNow(BufferData.create(frame));
            return this;
        } catch (SocketWriterException | java.io.UncheckedIOException e) {
            throw new ServerConnectionException("could not write a websocket frame", e);
        } finally {
            sendLock.unlock();
        }
    }

    /**
     * Writes whole text frames encoded by {@link #putTextHeader} in one socket write: the burst a connection's
     * writer drained from its queue. Control frames from other threads go before or after it, never inside.
     *
     * @throws IllegalStateException while a fragmented message is being sent (its frames must stay together)
     */
    void writeFrames(byte[] frames, int length) {
        sendLock.lock();
        try {
            if (sendingFragments) {
                throw new IllegalStateException("a fragmented message is being sent");
            }
            ctx.dataWriter().writeNow(BufferData.create(frames, 0, length));
        } catch (SocketWriterException | java.io.UncheckedIOException e) {
            throw new ServerConnectionException("could not write websocket frames", e);
        } finally {
            sendLock.unlock();
        }
    }

    /** Bytes of a server frame's header before a payload of {@code length} bytes (servers do not mask). */
    static int headerLength(int length) {
        return length < 126 ? 2 : length < 1 << 16 ? 4 : 10;
    }

    /** Puts the header of a whole (unfragmented) text frame at {@code at}; returns where its payload starts. */
    static int putTextHeader(byte[] into, int at, int length) {
        return putHeader(into, at, true, TEXT, length);
    }

    private static int putHeader(byte[] into, int at, boolean fin, int opcode, int length) {
        into[at] = (byte) ((fin ? 0x80 : 0) | opcode);
        if (length < 126) {
            into[at + 1] = (byte) length;
            return at + 2;
        }
        if (length < 1 << 16) {
            into[at + 1] = 126;
            into[at + 2] = (byte) (length >>> 8);
            into[at + 3] = (byte) length;
            return at + 4;
        }
        into[at + 1] = 127;
        for (int i = 0; i < 8; i++) {
            into[at + 2 + i] = (byte) ((long) length >>> (56 - 8 * i));
        }
        return at + 10;
    }

    // ---- the end ----

    private void closeAndNotify(int code, String reason) {
        notifyEnd(() -> listener.onClose(this, code, reason));
        try {
            close(code, reason);
        } catch (CloseConnectionException e) {
            // the peer is gone already
        }
    }

    /**
     * After the close frame that answers a violation, the client may still be sending: the rest of a frame too
     * large, frames already on their way. Closing the socket with those bytes unread makes the kernel send a reset,
     * and a reset can destroy our close frame before the client has read it, or fail the client's next write: the
     * client would see the connection lost (1006) instead of the code it broke. So the reader discards what comes
     * (nothing of it is processed) until the client's own close frame (its answer) or the end of its stream; a
     * client that sends nothing for {@link #DISCARD_QUIET}, or goes on past {@link #CLOSE_WAIT} or
     * {@link #DISCARD_BYTES}, has its socket closed under the reader.
     *
     * @param owed bytes of the offending frame still unread, or {@link Violation#MID_HEADER}: then frames can no
     *             longer be told apart, and bytes are discarded until the client closes its side
     */
    private void discardUntilClientCloses(long owed) {
        long budget = DISCARD_BYTES;
        discardedAt = System.nanoTime();
        closeSocketWhenQuiet();
        try {
            if (owed == Violation.MID_HEADER) {
                while (budget > 0) {
                    reader.ensureAvailable();
                    int n = reader.available();
                    reader.skip(n);
                    budget -= n;
                    discardedAt = System.nanoTime();
                }
                return;
            }
            if (owed > budget) {
                return;
            }
            skip(owed);
            budget -= owed;
            while (true) {
                int b0 = reader.read() & 0xFF;
                int b1 = reader.read() & 0xFF;
                long length = payloadLength(b1);
                long rest = length + ((b1 & 0x80) != 0 ? 4 : 0);
                if (length < 0 || rest > budget) {
                    return;
                }
                skip(rest);
                budget -= rest;
                if ((b0 & 0x0F) == CLOSE) {
                    return; // the client answered our close: the socket can be closed cleanly
                }
            }
        } catch (RuntimeException e) {
            // the client closed its side, or the socket was closed under the reader: done either way
        }
    }

    private void skip(long bytes) {
        while (bytes > 0) {
            reader.ensureAvailable();
            int n = (int) Math.min(reader.available(), bytes);
            reader.skip(n);
            bytes -= n;
            discardedAt = System.nanoTime();
        }
    }

    /**
     * Closes the socket under a discarding reader once the client is quiet. A client that never is runs into the
     * close wait our close frame started ({@link #closeSocketUnlessAnswered}), which closes it just the same.
     */
    private void closeSocketWhenQuiet() {
        Thread.ofVirtual().name("ws-discard-wait").start(() -> {
            try {
                while (!readerDone) {
                    Thread.sleep(DISCARD_QUIET.dividedBy(4));
                    if (System.nanoTime() - discardedAt > DISCARD_QUIET.toNanos()) {
                        if (!readerDone) {
                            ctx.serverSocket().close();
                        }
                        return;
                    }
                }
            } catch (InterruptedException | RuntimeException e) {
                // stopping, or the socket is gone already
            }
        });
    }

    /** The listener hears of the end once, however it comes. */
    private void notifyEnd(Runnable tell) {
        if (endNotified.compareAndSet(false, true)) {
            try {
                tell.run();
            } catch (RuntimeException e) {
                LOG.error("websocket listener failed at the end of a connection", e);
            }
        }
    }
}
