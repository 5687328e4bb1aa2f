package io.cdcnotify.ws;

import java.io.IOException;
import java.time.Duration;

import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Publication;
import io.cdcnotify.hub.Transport;
import io.cdcnotify.wire.Message;
import io.cdcnotify.wire.WsMessages;
import io.helidon.common.buffers.BufferData;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.ConnectionContext;
import io.helidon.websocket.WsSession;

/** WebSocket framing for one connection's writer: each event and message is one text frame. */
final class WsTransport implements Transport {

    private static final Duration PING_EVERY = Duration.ofSeconds(30);

    private final WsSession session;

    WsTransport(WsSession session) {
        this.session = session;
    }

    @Override
    public String name() {
        return "websocket";
    }

    @Override
    public void event(String subscriptionId, Publication publication) throws IOException {
        send(WsMessages.event(subscriptionId, publication.json()));
    }

    @Override
    public void message(Message message) throws IOException {
        send(WsMessages.encode(message));
    }

    @Override
    public void flush() {
        // every frame is written as it is sent
    }

    @Override
    public void keepalive() throws IOException {
        try {
            session.ping(BufferData.empty());
        } catch (CloseConnectionException e) {
            throw new IOException("ping failed", e);
        }
    }

    /** Answers a client's ping frame. */
    void pong(BufferData data) throws IOException {
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
            return;
        }
        try {
            session.close(disconnect.code(), disconnect.reason());
        } catch (RuntimeException e) {
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

    private void send(String text) throws IOException {
        try {
            session.send(text, true);
        } catch (CloseConnectionException e) {
            throw new IOException("send failed", e);
        }
    }
}
