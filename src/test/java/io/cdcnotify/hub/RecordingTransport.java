package io.cdcnotify.hub;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import io.cdcnotify.wire.Message;

/**
 * A transport that records what a client's writer puts on the wire, in order. Gates stop the writer just before
 * a chosen write, so a test can act while the writer is known to be busy there; every wait has a timeout.
 */
final class RecordingTransport implements Transport {

    /** One write. */
    sealed interface Written {
    }

    record Event(String subscriptionId, Publication publication) implements Written {
        long id() {
            return publication.event().id();
        }
    }

    record Sent(Message message) implements Written {
    }

    private final String name;
    private final boolean endsWithSubscription;
    private final Duration keepaliveInterval;
    private final List<Written> written = Collections.synchronizedList(new ArrayList<>());
    private final List<Gate> gates = Collections.synchronizedList(new ArrayList<>());
    private final Set<Thread> writers = ConcurrentHashMap.newKeySet();
    final AtomicInteger flushes = new AtomicInteger();
    final AtomicInteger keepalives = new AtomicInteger();
    final AtomicInteger closes = new AtomicInteger();
    final AtomicInteger aborts = new AtomicInteger();
    final CompletableFuture<Disconnect> closed = new CompletableFuture<>();
    private volatile Predicate<Written> failWhen = w -> false;

    RecordingTransport() {
        this("websocket", false, Duration.ofHours(1));
    }

    RecordingTransport(String name, boolean endsWithSubscription, Duration keepaliveInterval) {
        this.name = name;
        this.endsWithSubscription = endsWithSubscription;
        this.keepaliveInterval = keepaliveInterval;
    }

    static RecordingTransport sse() {
        return new RecordingTransport("sse", true, Duration.ofHours(1));
    }

    // ---- Transport ----

    @Override
    public String name() {
        return name;
    }

    @Override
    public void event(String subscriptionId, Publication publication) throws IOException {
        write(new Event(subscriptionId, publication));
    }

    @Override
    public void message(Message message) throws IOException {
        write(new Sent(message));
    }

    @Override
    public void flush() {
        writers.add(Thread.currentThread());
        flushes.incrementAndGet();
    }

    @Override
    public void keepalive() {
        writers.add(Thread.currentThread());
        keepalives.incrementAndGet();
    }

    @Override
    public Duration keepaliveInterval() {
        return keepaliveInterval;
    }

    @Override
    public boolean endsWithSubscription() {
        return endsWithSubscription;
    }

    @Override
    public void close(Disconnect disconnect) {
        writers.add(Thread.currentThread());
        closes.incrementAndGet();
        closed.complete(disconnect);
    }

    /** As a closed socket does to a writer stuck in a write: the write at a gate fails at once. */
    @Override
    public void abort() {
        aborts.incrementAndGet();
        synchronized (gates) {
            for (Gate g : gates) {
                g.aborted = true;
                g.release.countDown();
            }
        }
    }

    private void write(Written w) throws IOException {
        writers.add(Thread.currentThread());
        if (closed.isDone()) {
            throw new AssertionError("written after close: " + w);
        }
        if (failWhen.test(w)) {
            throw new IOException("peer gone (test)");
        }
        Gate gate = null;
        synchronized (gates) {
            for (Gate g : gates) {
                if (!g.fired && g.when.test(w)) {
                    g.fired = true;
                    gate = g;
                    break;
                }
            }
        }
        if (gate != null) {
            gate.reached.complete(w);
            try {
                if (!gate.release.await(20, TimeUnit.SECONDS)) {
                    throw new AssertionError("a gate was never released");
                }
                if (gate.aborted) {
                    throw new IOException("socket closed from outside (test)");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted at a gate", e);
            }
        }
        written.add(w);
    }

    // ---- for tests ----

    /** Stops the writer the first time it is about to write something matching {@code when}. */
    Gate gate(Predicate<Written> when) {
        Gate g = new Gate(when);
        gates.add(g);
        return g;
    }

    /** Makes writes matching {@code when} fail as a dead peer would. */
    void failWhen(Predicate<Written> when) {
        this.failWhen = when;
    }

    List<Written> written() {
        synchronized (written) {
            return List.copyOf(written);
        }
    }

    List<Event> events() {
        return written().stream().filter(Event.class::isInstance).map(Event.class::cast).toList();
    }

    List<Long> eventIds() {
        return events().stream().map(Event::id).toList();
    }

    List<Long> eventIds(String subscriptionId) {
        return events().stream().filter(e -> e.subscriptionId().equals(subscriptionId)).map(Event::id).toList();
    }

    List<Message> messages() {
        return written().stream().filter(Sent.class::isInstance).map(w -> ((Sent) w).message()).toList();
    }

    <T extends Message> List<T> messages(Class<T> type) {
        return messages().stream().filter(type::isInstance).map(type::cast).toList();
    }

    boolean hasPong(String marker) {
        return messages(Message.Pong.class).stream().anyMatch(p -> p.requestId().equals(Optional.of(marker)));
    }

    /** The threads that wrote: the contract of {@link Transport} is exactly one. */
    Set<Thread> writerThreads() {
        return Set.copyOf(writers);
    }

    Disconnect awaitClosed() {
        try {
            return closed.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("the connection was not closed within 10 s; written: " + written(), e);
        }
    }

    /** A point in the writer's work where it waits for the test. */
    static final class Gate {
        private final Predicate<Written> when;
        private final CompletableFuture<Written> reached = new CompletableFuture<>();
        private final CountDownLatch release = new CountDownLatch(1);
        private volatile boolean fired;
        private volatile boolean aborted;

        private Gate(Predicate<Written> when) {
            this.when = when;
        }

        /** Waits until the writer stands at the gate; returns what it is about to write. */
        Written awaitReached() {
            try {
                return reached.get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new AssertionError("the writer never reached the gate", e);
            }
        }

        void release() {
            release.countDown();
        }
    }
}
