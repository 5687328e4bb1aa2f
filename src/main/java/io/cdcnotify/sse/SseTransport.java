package io.cdcnotify.sse;

import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.function.Supplier;

import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Publication;
import io.cdcnotify.hub.Transport;
import io.cdcnotify.wire.Message;
import io.cdcnotify.wire.SseFrames;

/**
 * SSE framing (contract section 5), written straight to the response stream: an event's frame is the same
 * bytes for every SSE client, and a burst is flushed once. The writer that ends the stream closes the response
 * and then the socket, which ends the handler's read of it ({@link SseSocket#awaitInputEnd}); the handler waits
 * for that close ({@link #awaitClosed}) before it returns to Helidon, so the two never write at once.
 */
final class SseTransport implements Transport {

    private static final Duration KEEPALIVE_EVERY = Duration.ofSeconds(15);

    private final Supplier<OutputStream> opener;
    private final Optional<SseSocket> socket;
    private final CountDownLatch closed = new CountDownLatch(1);
    private OutputStream out;

    /**
     * @param opener opens the response stream, at the first write: until then the response can still refuse
     * @param socket the connection's socket, to cut it from outside, if reachable
     */
    SseTransport(Supplier<OutputStream> opener, Optional<SseSocket> socket) {
        this.opener = opener;
        this.socket = socket;
    }

    @Override
    public String name() {
        return "sse";
    }

    @Override
    public void event(String subscriptionId, Publication publication) throws IOException {
        write(publication.sseFrame());
    }

    @Override
    public void message(Message message) throws IOException {
        switch (message) {
            case Message.Subscribed m -> write(SseFrames.subscribed(m));
            case Message.Error m -> write(SseFrames.error(m));
            default -> {
                // auth_ok, pong and unsubscribed have no SSE form
            }
        }
    }

    @Override
    public void flush() throws IOException {
        try {
            stream().flush();
        } catch (RuntimeException e) {
            throw new IOException("flush failed", e);
        }
    }

    @Override
    public void keepalive() throws IOException {
        write(SseFrames.KEEPALIVE);
    }

    @Override
    public Duration keepaliveInterval() {
        return KEEPALIVE_EVERY;
    }

    @Override
    public boolean endsWithSubscription() {
        return true;
    }

    @Override
    public void close(Disconnect disconnect) {
        try {
            stream().close();
        } catch (IOException | RuntimeException e) {
            // the peer is already gone
        } finally {
            // what the close wrote is in the kernel's buffer: it still reaches a peer that reads, ahead of the FIN
            socket.ifPresent(SseSocket::close);
            closed.countDown();
        }
    }

    /** Waits until the writer has closed the stream (and its socket): after that nothing of ours writes to it. */
    void awaitClosed() throws InterruptedException {
        closed.await();
    }

    @Override
    public void abort() {
        socket.ifPresent(SseSocket::close);
    }

    private OutputStream stream() {
        if (out == null) {
            out = opener.get();
        }
        return out;
    }

    private void write(byte[] bytes) throws IOException {
        try {
            stream().write(bytes);
        } catch (RuntimeException e) {
            throw new IOException("write failed", e);
        }
    }
}
