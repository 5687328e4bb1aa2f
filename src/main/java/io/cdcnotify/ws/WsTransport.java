package io.cdcnotify.ws;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;

import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Publication;
import io.cdcnotify.hub.Transport;
import io.cdcnotify.wire.Message;
import io.cdcnotify.wire.WsMessages;
import io.helidon.common.buffers.BufferData;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.ConnectionContext;
import io.helidon.websocket.WsSession;

/**
 * WebSocket framing for one connection's writer: each event and message is one text frame, and the frames of a
 * burst (what the writer drained from its queue before {@link #flush()}) go out in one socket write.
 *
 * <p>The frames of a burst are gathered in a buffer made for that burst and dropped after its write, so an idle
 * connection keeps none. A burst is written in pieces of about {@link #WRITE_AT} bytes. Control frames (pings,
 * pongs, the close) first write what is gathered, so the peer sees everything in the order the writer sent it.
 */
final class WsTransport implements Transport {

    private static final Duration PING_EVERY = Duration.ofSeconds(30);
    /** Gathered frames are written once they reach this size, so a burst of large events is not copied whole. */
    static final int WRITE_AT = 64 * 1024;

    private final WsSession session;
    /** The connection when it is ours, which can write several frames at once; null for Helidon's own. */
    private final StrictWsConnection strict;
    /** Frames of the burst not yet written (writer thread only); null between bursts. */
    private byte[] pending;
    private int pendingLength;

    WsTransport(WsSession session) {
        this.session = session;
        this.strict = session instanceof StrictWsConnection c ? c : null;
    }

    @Override
    public String name() {
        return "websocket";
    }

    /** An event's frame is put together from the bytes its recipients share: no text of its own per recipient. */
    @Override
    public void event(String subscriptionId, Publication publication) throws IOException {
        if (strict == null) {
            send(WsMessages.event(subscriptionId, publication.json()));
            return;
        }
        byte[] id = subscriptionId.getBytes(StandardCharsets.UTF_8);
        byte[] json = publication.jsonUtf8();
        int length = WsMessages.eventLength(id, json);
        int at = reserve(length);
        WsMessages.putEvent(pending, at, id, json);
        added(at + length);
    }

    @Override
    public void message(Message message) throws IOException {
        String text = WsMessages.encode(message);
        if (strict == null) {
            send(text);
            return;
        }
        byte[] payload = text.getBytes(StandardCharsets.UTF_8);
        int at = reserve(payload.length);
        System.arraycopy(payload, 0, pending, at, payload.length);
        added(at + payload.length);
    }

    @Override
    public void flush() throws IOException {
        if (pendingLength == 0) {
            return;
        }
        byte[] frames = pending;
        int length = pendingLength;
        pending = null;
        pendingLength = 0;
        try {
            strict.writeFrames(frames, length);
        } catch (CloseConnectionException | IllegalStateException e) {
            throw new IOException("send failed", e);
        }
    }

    @Override
    public void keepalive() throws IOException {
        flush();
        try {
            session.ping(BufferData.empty());
        } catch (CloseConnectionException e) {
            throw new IOException("ping failed", e);
        }
    }

    /** Answers a client's ping frame (on the writer thread). */
    void pong(BufferData data) throws IOException {
        flush();
        try {
            session.pong(data);
        } catch (CloseConnectionException e) {
            throw new IOException("pong failed", e);
        }
    }

    @Override
    public Duration keepaliveInterval() {
        return PING_EVERY;
    }

    @Override
    public boolean endsWithSubscription() {
        return false;
    }

    @Override
    public void close(Disconnect disconnect) {
        if (disconnect == Disconnect.GONE) {
            pending = null;
            pendingLength = 0;
            return;
        }
        try {
            flush();
            session.close(disconnect.code(), disconnect.reason());
        } catch (IOException | RuntimeException e) {
            // the peer is already gone
        }
    }

    @Override
    public void abort() {
        try {
            if (session.socketContext() instanceof ConnectionContext ctx) {
                ctx.serverSocket().close();
            }
        } catch (RuntimeException e) {
            // nothing more can be done
        }
    }

    /**
     * Makes room in the burst for one text frame of {@code payloadLength} bytes and writes its header; answers
     * where the payload goes. The first frame of a burst gets a buffer of its own size (most bursts are one event),
     * later ones grow it.
     */
    private int reserve(int payloadLength) {
        int size = StrictWsConnection.headerLength(payloadLength) + payloadLength;
        if (pending == null) {
            pending = new byte[size];
        } else if (pendingLength + size > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pendingLength + size, Math.min(2 * pending.length, WRITE_AT)));
        }
        return StrictWsConnection.putTextHeader(pending, pendingLength, payloadLength);
    }

    /** The frame reserved last is in place up to {@code end}; writes the burst once it is large. */
    private void added(int end) throws IOException {
        pendingLength = end;
        if (pendingLength >= WRITE_AT) {
            flush();
        }
    }

    private void send(String text) throws IOException {
        try {
            session.send(text, true);
        } catch (CloseConnectionException e) {
            throw new IOException("send failed", e);
        }
    }
}
