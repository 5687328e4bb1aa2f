package io.cdcnotify;

import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.outbox.Retention;
import io.cdcnotify.subscription.Subscriptions;
import io.cdcnotify.supervise.Worker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The service's periodic jobs, each on a supervised thread of its own so that one stuck or dead job neither holds
 * up the others nor goes unnoticed: the revocation sweep ({@code key-sweep}: a key deleted on any instance, or
 * expired, loses its connections and subscriptions here within a second or two), the exchange of durable
 * subscription state with other instances ({@code subscription-sync}: attachments, last cursors, deletions,
 * expiry), outbox retention ({@code retention}), and the connections' own timers ({@code connections}: keepalives,
 * and the cutting of connections whose writer is stuck while closing). A separate timer thread runs the
 * WebSocket auth timeouts; it beats once a second so that {@code /health} can tell when it is stuck.
 */
final class Housekeeping implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Housekeeping.class);
    private static final Duration STUCK_GRACE = Duration.ofSeconds(5);
    /** How long one run of a job may take before the job counts as stuck (beyond its period). */
    private static final Duration RUN_LIMIT = Duration.ofSeconds(30);
    /** Retention deletes in batches until nothing more may go: a large backlog legitimately takes minutes. */
    private static final Duration PURGE_LIMIT = Duration.ofMinutes(10);
    private static final Duration TIMER_LATE = Duration.ofSeconds(10);

    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().name("cdc-timer").daemon().factory());
    private final ApiKeys keys;
    private final Hub hub;
    private final Subscriptions subscriptions;
    private final List<Worker> jobs;
    private volatile long timerBeat = System.nanoTime();
    private volatile boolean started;

    Housekeeping(ApiKeys keys, Hub hub, Subscriptions subscriptions, Retention retention, Duration sweepInterval,
                 Duration purgeInterval) {
        this.keys = keys;
        this.hub = hub;
        this.subscriptions = subscriptions;
        Duration second = Duration.ofSeconds(1);
        this.jobs = List.of(every("key-sweep", sweepInterval, RUN_LIMIT, this::sweepKeys),
                            every("subscription-sync", second, RUN_LIMIT, subscriptions::sync),
                            every("retention", purgeInterval, PURGE_LIMIT, retention::purge),
                            every("connections", second, RUN_LIMIT, () -> {
                                hub.abortStuck(STUCK_GRACE);
                                hub.tick();
                            }));
    }

    /** The timer of the WebSocket auth timeouts: its tasks must be short and must not block. */
    ScheduledExecutorService timer() {
        return timer;
    }

    void start() {
        started = true;
        timerBeat = System.nanoTime();
        timer.scheduleAtFixedRate(() -> timerBeat = System.nanoTime(), 1, 1, TimeUnit.SECONDS);
        jobs.forEach(Worker::start);
    }

    /** The watchdog's round: a job thread that died or is stuck is replaced. */
    void supervise() {
        jobs.forEach(Worker::supervise);
    }

    /** One health check per job, and {@code timer}. */
    Map<String, BooleanSupplier> checks() {
        Map<String, BooleanSupplier> checks = new LinkedHashMap<>();
        for (Worker job : jobs) {
            checks.put(job.name(), job::healthy);
        }
        checks.put("timer", () -> started && System.nanoTime() - timerBeat <= TIMER_LATE.toNanos());
        return checks;
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

    /**
     * A job run every {@code period} (after the previous run ended) on a thread of its own. A failed run is logged
     * and the job goes on; an {@code Error} ends the thread, which the watchdog then replaces; a run that takes
     * longer than {@code limit} makes the job stuck.
     */
    static Worker every(String name, Duration period, Duration limit, Runnable job) {
        return new Worker(name, period.plus(limit), life -> {
            while (life.live()) {
                Thread.sleep(period);
                life.beat();
                if (!life.live()) {
                    break;
                }
                try {
                    job.run();
                } catch (RuntimeException e) {
                    LOG.warn("periodic job {} failed: {}", name, e.toString());
                }
                life.beat();
            }
        });
    }

    @Override
    public void close() {
        started = false;
        jobs.forEach(job -> job.stop(Duration.ofSeconds(1)));
        timer.shutdownNow();
    }
}
