package io.cdcnotify;

import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.outbox.Retention;
import io.cdcnotify.subscription.Subscriptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The service's periodic jobs, on one timer thread: the revocation sweep (a key deleted on any instance, or
 * expired, loses its connections and subscriptions here within a second or two), the exchange of durable
 * subscription state with other instances (attachments, last cursors, deletions, expiry), outbox retention, and
 * the cutting of connections stuck while closing. The same timer runs the WebSocket auth timeouts.
 */
final class Housekeeping implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Housekeeping.class);
    private static final Duration STUCK_GRACE = Duration.ofSeconds(5);

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("cdc-timer").daemon().factory());
    private final ApiKeys keys;
    private final Hub hub;
    private final Subscriptions subscriptions;
    private final Duration sweepInterval;
    private final Retention retention;
    private final Duration purgeInterval;

    Housekeeping(ApiKeys keys, Hub hub, Subscriptions subscriptions, Retention retention, Duration sweepInterval,
                 Duration purgeInterval) {
        this.retention = retention;
        this.purgeInterval = purgeInterval;
        this.keys = keys;
        this.hub = hub;
        this.subscriptions = subscriptions;
        this.sweepInterval = sweepInterval;
    }

    ScheduledExecutorService timer() {
        return timer;
    }

    void start() {
        every(sweepInterval, this::sweepKeys);
        every(Duration.ofSeconds(1), subscriptions::sync);
        every(purgeInterval, retention::purge);
        every(Duration.ofSeconds(1), () -> hub.abortStuck(STUCK_GRACE));
        every(Duration.ofSeconds(1), hub::tick);
    }

    /** A key was revoked: its connections close (4403) and its subscriptions end. */
    void revoked(String keyId) {
        hub.closeKeys(Set.of(keyId), Disconnect.revoked("the API key was revoked"));
        subscriptions.deleteAll(keyId);
    }

    private void sweepKeys() {
        Set<String> inUse = new HashSet<>();
        for (Client c : hub.clients()) {
            inUse.add(c.keyId());
        }
        for (Subscription s : hub.subscriptions()) {
            inUse.add(s.keyId());
        }
        Set<String> gone = keys.gone(inUse);
        if (!gone.isEmpty()) {
            LOG.info("{} API keys revoked or expired; closing their connections", gone.size());
            hub.closeKeys(gone, Disconnect.revoked("the API key was revoked or has expired"));
            gone.forEach(subscriptions::deleteAll);
        }
    }

    private void every(Duration period, Runnable job) {
        timer.scheduleWithFixedDelay(() -> {
            try {
                job.run();
            } catch (RuntimeException e) {
                LOG.warn("periodic job failed: {}", e.toString());
            }
        }, period.toMillis(), period.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
