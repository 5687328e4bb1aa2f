package io.cdcnotify.supervise;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One platform thread for short timed tasks that must not block (the WebSocket auth timeouts), given to whoever
 * needs it explicitly. It beats once a second, so that {@link #healthy()} tells {@code /health} when a task
 * holds it up.
 */
public final class Scheduler implements AutoCloseable {

    private final ScheduledExecutorService executor;
    /** Longer than this without a beat: a task is holding the thread. */
    private final long lateNanos;
    private volatile long beat = System.nanoTime();
    private volatile boolean started;

    /** @param name the thread's name */
    public Scheduler(String name) {
        this(name, Duration.ofSeconds(10));
    }

    Scheduler(String name, Duration late) {
        this.lateNanos = late.toNanos();
        this.executor = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name(name).daemon().factory());
    }

    /** Where to schedule: tasks must be short and must not block. */
    public ScheduledExecutorService executor() {
        return executor;
    }

    public void start() {
        started = true;
        beat = System.nanoTime();
        executor.scheduleAtFixedRate(() -> beat = System.nanoTime(), 1, 1, TimeUnit.SECONDS);
    }

    /** Started, and beat within the last 10 s. */
    public boolean healthy() {
        return started && System.nanoTime() - beat <= lateNanos;
    }

    @Override
    public void close() {
        started = false;
        executor.shutdownNow();
    }
}
