package io.cdcnotify.hub;

import java.io.IOException;
import java.time.Duration;

import io.cdcnotify.wire.Message;

/**
 * The only thing that differs between WebSocket and SSE: how a client's writer puts events and messages on the
 * wire, and how a connection ends. Every method but {@link #abort()} is called by the client's writer thread
 * alone.
 */
public interface Transport {

    /** {@code websocket} or {@code sse}: the metrics label. */
    String name();

    /** Writes an event of a subscription. May buffer until {@link #flush()}. */
    void event(String subscriptionId, Publication publication) throws IOException;

    /** Writes a message. May buffer until {@link #flush()}. */
    void message(Message message) throws IOException;

    /** Pushes buffered writes to the network. */
    void flush() throws IOException;

    /** Tells an idle peer the connection is alive. */
    void keepalive() throws IOException;

    /** How long the connection may stay silent before {@link #keepalive()}. */
    Duration keepaliveInterval();

    /** True when a stream carries one subscription and ends with it (SSE). */
    boolean endsWithSubscription();

    /** Ends the connection after its last message; {@code disconnect}'s error was already written. */
    void close(Disconnect disconnect);

    /**
     * Cuts the connection without ceremony. Called from another thread, only when the writer has been stuck
     * on a peer that stopped reading. Does nothing where the transport cannot reach its socket.
     */
    void abort();
}
