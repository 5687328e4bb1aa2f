package io.cdcnotify.supervise;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Walks the service's {@link Worker}s (through their owners' {@code supervise} methods) every tick and lets each
 * replace a dead or stuck thread. It runs on a platform thread of its own, so that it goes on even when the
 * virtual threads' carriers are all busy or pinned; {@link #alive()} tells {@code /health} whether it still ticks.
 */
public final class Watchdog implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Watchdog.class);

    private final Duration tick;
    private final List<Runnable> rounds = new CopyOnWriteArrayList<>();
    private volatile long lastTick = System.nanoTime();
    private volatile boolean running;
    private Thread thread;

    public Watchdog(Duration tick) {
        this.tick = tick;
    }

    /** Adds a round, e.g. {@code listener::supervise}; it must be quick and must not block. */
    public void supervise(Runnable round) {
        rounds.add(round);
    }

    public synchronized void start() {
        running = true;
        lastTick = System.nanoTime();
        thread = Thread.ofPlatform().name("cdc-watchdog").daemon().start(this::run);
    }

    /** Ticked within the last five ticks (at least 5 s). */
    public boolean alive() {
        return running && System.nanoTime() - lastTick <= Math.max(Duration.ofSeconds(5).toNanos(), 5 * tick.toNanos());
    }

    private void run() {
        while (running) {
            for (Runnable round : rounds) {
                try {
                    round.run();
                } catch (Throwable e) { // an Error here (out of memory) must not end the watchdog
                    LOG.warn("watchdog round failed: {}", e.toString());
                }
            }
            lastTick = System.nanoTime();
            try {
                Thread.sleep(tick);
            } catch (InterruptedException e) {
                break;
            }
        }
    }

    @Override
    public synchronized void close() {
        running = false;
        if (thread != null) {
            thread.interrupt();
        }
    }
}
