package io.cdcnotify.bench;

import java.util.concurrent.Semaphore;

/**
 * The driver's SSE clients, whichever implementation ({@code --sse-client}): {@link NioSseClients} (raw NIO, the
 * default) or {@link SseClients} (the JDK's {@link java.net.http.HttpClient}).
 */
interface SseDriver extends AutoCloseable {

    /**
     * Opens one stream of table {@code table}; {@code gate} bounds the clients between connect and
     * {@code subscribed}: acquired here, released once the client is subscribed or its stream has failed.
     */
    void open(int table, ClientFilter filter, Semaphore gate) throws InterruptedException;

    /** From now on, closes are expected (not counted in {@link Stats#closedEarly}). */
    void closing();

    /** Closes every stream. */
    @Override
    void close();
}
