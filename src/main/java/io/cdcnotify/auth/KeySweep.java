package io.cdcnotify.auth;

import java.time.Duration;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Supplier;

import io.cdcnotify.supervise.Worker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Revocation on this instance: a key deleted here loses what it holds at once ({@link #revoked}); a key deleted
 * on another instance, or expired, loses it within one sweep ({@code key-sweep}, every
 * {@code cdc.auth.sweep-interval-ms}). What a key holds (connections, durable subscriptions) is its holders'
 * business: they say which keys hold something and release the keys that are gone.
 */
public final class KeySweep {

    private static final Logger LOG = LoggerFactory.getLogger(KeySweep.class);

    private final ApiKeys keys;
    private final Duration interval;
    private final Supplier<Set<String>> held;
    private final BiConsumer<Set<String>, String> release;

    /**
     * @param held    the ids of the keys that hold something on this instance
     * @param release ends what these keys hold, telling their clients the reason
     */
    public KeySweep(ApiKeys keys, Duration interval, Supplier<Set<String>> held,
                    BiConsumer<Set<String>, String> release) {
        this.keys = keys;
        this.interval = interval;
        this.held = held;
        this.release = release;
    }

    /** The periodic sweep; the watchdog supervises it. */
    public Worker job() {
        return Worker.every("key-sweep", interval, this::sweep);
    }

    /** A key was deleted on this instance: its connections close (4403) and its subscriptions end, now. */
    public void revoked(String keyId) {
        release.accept(Set.of(keyId), "the API key was revoked");
    }

    /** One sweep: releases every held key that is no longer valid; how many there were. */
    int sweep() {
        Set<String> gone = keys.gone(held.get());
        if (!gone.isEmpty()) {
            LOG.info("{} API keys revoked or expired; closing their connections", gone.size());
            release.accept(gone, "the API key was revoked or has expired");
        }
        return gone.size();
    }
}
