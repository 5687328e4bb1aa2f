package io.cdcnotify.hub;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import io.cdcnotify.wire.Message;

/** A transport that writes nothing; counts what it was given, and wakes a waiter at a target count. */
final class NoopTransport implements Transport {

    static final NoopTransport INSTANCE = new NoopTransport();

    final AtomicLong events = new AtomicLong();
    final AtomicLong messages = new AtomicLong();
    volatile long target = Long.MAX_VALUE;
    volatile Thread waiter;

    @Override
    public String name() {
        return "websocket";
    }

    @Override
    public void event(String subscriptionId, Publication publication) {
        if (events.incrementAndGet() == target) {
            java.util.concurrent.locks.LockSupport.unpark(waiter);
        }
    }

    @Override
    public void message(Message message) {
        messages.incrementAndGet();
    }

    @Override
    public void flush() {
    }

    @Override
    public void keepalive() {
    }

    @Override
    public Duration keepaliveInterval() {
        return Duration.ofHours(1);
    }

    @Override
    public boolean endsWithSubscription() {
        return false;
    }

    @Override
    public void close(Disconnect disconnect) {
    }

    @Override
    public void abort() {
    }
}
