package io.cdcnotify.supervise;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One loop the service depends on, on its own named virtual thread, and the two facts a {@link Watchdog} needs
 * about it: whether the thread still runs, and when its loop last came round ({@link Life#beat()}).
 *
 * <p>No silent death: an {@code Error} (an {@code OutOfMemoryError}, a {@code StackOverflowError}) or any exception
 * that leaves the loop ends the thread with one ERROR line; from that moment {@link #healthy()} is false, and
 * {@link #supervise()} starts a new thread (at once the first time, then after a backoff doubling from 0.5 to 5 s
 * while it keeps dying). A thread that stops beating for longer than its stall timeout is stuck (a hung socket, a
 * deadlock): it is abandoned, interrupted, and replaced the same way. An abandoned thread cannot act any more:
 * its {@link Life#live()} is false from then on, and every loop checks it before it does anything that shows.
 */
public final class Worker {

    private static final Logger LOG = LoggerFactory.getLogger(Worker.class);
    private static final long MIN_BACKOFF = Duration.ofMillis(500).toNanos();
    private static final long MAX_BACKOFF = Duration.ofSeconds(5).toNanos();
    /** A thread that lived this long without trouble resets the backoff. */
    private static final long SETTLED = Duration.ofSeconds(10).toNanos();
    /** How long one run of a periodic job may take, beyond its period, before the job counts as stuck. */
    public static final Duration RUN_LIMIT = Duration.ofSeconds(30);

    /** The loop: runs until {@code life.live()} turns false; returning or throwing earlier is a death. */
    @FunctionalInterface
    public interface Body {
        void run(Life life) throws Exception;
    }

    /** One thread's lease on the loop: a replacement revokes it. */
    public final class Life {
        private final long generation;

        private Life(long generation) {
            this.generation = generation;
        }

        /** False once the worker stopped or this thread was abandoned for a replacement. */
        public boolean live() {
            return running && generation == Worker.this.generation;
        }

        /** The loop came round: the thread is making progress. */
        public void beat() {
            if (generation == Worker.this.generation) {
                lastBeat = System.nanoTime();
            }
        }
    }

    private final String name;
    private final Duration stallTimeout;
    private final Body body;
    private final AtomicLong restarts = new AtomicLong();
    private volatile boolean running;
    private volatile long generation;
    private volatile Thread thread;
    private volatile long lastBeat;
    // written by supervise() and launch() under this object's monitor
    private long startedAt;
    private long restartAt;
    private long backoff;

    /**
     * @param name         the thread's name
     * @param stallTimeout the longest the loop may go without a {@link Life#beat()}
     */
    public Worker(String name, Duration stallTimeout, Body body) {
        this.name = name;
        this.stallTimeout = stallTimeout;
        this.body = body;
    }

    /**
     * A job run every {@code period} (after the previous run ended) on a thread of its own. A failed run is logged
     * and the job goes on; an {@code Error} ends the thread, which the watchdog then replaces; a run that takes
     * longer than {@code limit} makes the job stuck.
     */
    public static Worker every(String name, Duration period, Duration limit, Runnable job) {
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
                    if (life.live()) {
                        LOG.warn("periodic job {} failed: {}", name, e.toString());
                    } else { // stopped under it (an interrupted wait, a closed pool): no failure to report
                        LOG.debug("periodic job {} ended by its stop: {}", name, e.toString());
                    }
                }
                life.beat();
            }
        });
    }

    /** {@link #every(String, Duration, Duration, Runnable)} with a limit of {@link #RUN_LIMIT}. */
    public static Worker every(String name, Duration period, Runnable job) {
        return every(name, period, RUN_LIMIT, job);
    }

    public String name() {
        return name;
    }

    public synchronized void start() {
        running = true;
        launch();
    }

    /** Stops the loop and waits up to {@code wait} for the thread to end. */
    public void stop(Duration wait) {
        Thread t;
        synchronized (this) {
            running = false;
            generation++;
            t = thread;
        }
        if (t != null) {
            t.interrupt();
            try {
                t.join(wait);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The current thread, to wake it; null before the first start. */
    public Thread thread() {
        return thread;
    }

    /** Threads started to replace a dead or stuck one. */
    public long restarts() {
        return restarts.get();
    }

    /** Running, its thread alive, and its loop beating within the stall timeout. */
    public boolean healthy() {
        Thread t = thread;
        return running && t != null && t.isAlive() && System.nanoTime() - lastBeat <= stallTimeout.toNanos();
    }

    /**
     * The watchdog's round: a dead thread is replaced, a stuck one abandoned, interrupted and replaced, each after
     * the current backoff. Cheap when all is well.
     */
    public synchronized void supervise() {
        if (!running) {
            return;
        }
        long now = System.nanoTime();
        Thread t = thread;
        boolean dead = !t.isAlive();
        boolean stuck = !dead && now - lastBeat > stallTimeout.toNanos();
        if (!dead && !stuck) {
            if (now - startedAt > SETTLED) {
                backoff = 0;
            }
            return;
        }
        if (restartAt == 0) {
            restartAt = now + backoff;
            if (stuck) {
                LOG.error("thread {} made no progress for {} ms; abandoning it and starting another", name,
                          (now - lastBeat) / 1_000_000);
                generation++; // from here on the stuck thread's Life is not live: it can no longer act
                t.interrupt();
            }
        }
        if (now >= restartAt) {
            restartAt = 0;
            backoff = Math.min(Math.max(MIN_BACKOFF, backoff * 2), MAX_BACKOFF);
            restarts.incrementAndGet();
            LOG.warn("restarting thread {} (restart {})", name, restarts.get());
            launch();
        }
    }

    private void launch() {
        long g = ++generation;
        Life life = new Life(g);
        lastBeat = System.nanoTime();
        startedAt = lastBeat;
        Thread t = Thread.ofVirtual().name(name).unstarted(() -> run(life));
        thread = t;
        t.start();
    }

    private void run(Life life) {
        try {
            body.run(life);
            if (life.live()) {
                LOG.error("thread {} ended unexpectedly; it will be restarted", name);
            }
        } catch (InterruptedException e) {
            if (life.live()) {
                LOG.error("thread {} was interrupted; it will be restarted", name);
            }
        } catch (Throwable t) {
            // the one place such a death is logged, with its stack
            if (life.live()) {
                LOG.error("thread {} died; it will be restarted", name, t);
            }
        }
    }
}
