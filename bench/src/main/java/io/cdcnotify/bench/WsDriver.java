package io.cdcnotify.bench;

import java.util.concurrent.Semaphore;

/**
 * The driver's WebSocket clients, whichever implementation ({@code --ws-client}): {@link NioWsClients} (raw NIO,
 * the default) or {@link WsClients} (the JDK's {@link java.net.http.WebSocket}).
 */
interface WsDriver extends AutoCloseable {

    /**
     * Opens one client subscribed to table {@code table}; {@code gate} bounds the clients between connect and
     * {@code subscribed}: acquired here, released once the client is subscribed or has failed.
     */
    void open(int table, ClientFilter filter, Semaphore gate) throws InterruptedException;

    /** From now on, closes are expected (not counted in {@link Stats#closedEarly}). */
    void closing();

    /** Closes every client. */
    @Override
    void close();
}
