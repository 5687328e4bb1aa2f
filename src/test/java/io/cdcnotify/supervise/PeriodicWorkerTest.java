package io.cdcnotify.supervise;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A periodic job survives a failed run; an {@code Error} (which once ended a scheduled job silently: the executor
 * just stopped running it) makes it unhealthy until the watchdog restarts it; a run stuck past its limit too.
 */
class PeriodicWorkerTest {

    @Test
    void aFailedRunIsLoggedAndTheJobGoesOn() {
        AtomicInteger runs = new AtomicInteger();
        Worker job = Worker.every("test-fails", Duration.ofMillis(10), Duration.ofSeconds(5), () -> {
            runs.incrementAndGet();
            throw new IllegalStateException("database gone");
        });
        job.start();
        try {
            await().atMost(Duration.ofSeconds(5)).until(() -> runs.get() >= 3);
            assertThat(job.healthy()).isTrue();
        } finally {
            job.stop(Duration.ofSeconds(1));
        }
    }

    /** A run its stop interrupts (the service shutting down) is not a failure to warn about. */
    @Test
    void aRunEndedByTheStopIsNoFailure() {
        AtomicInteger runs = new AtomicInteger();
        Worker job = Worker.every("test-stopped", Duration.ofMillis(10), Duration.ofSeconds(5), () -> {
            runs.incrementAndGet();
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting");
            }
        });
        try (io.cdcnotify.testing.LogCapture log = new io.cdcnotify.testing.LogCapture()) {
            job.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> runs.get() == 1);
            job.stop(Duration.ofSeconds(5));
            assertThat(job.thread().isAlive()).isFalse();
            assertThat(log.lines()).filteredOn(e -> e.getLoggerName().equals(Worker.class.getName()))
                    .noneMatch(e -> e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN));
        }
    }

    @Test
    void aJobKilledByAnErrorIsUnhealthyUntilRestarted() {
        AtomicInteger runs = new AtomicInteger();
        Worker job = Worker.every("test-oom", Duration.ofMillis(10), Duration.ofSeconds(5), () -> {
            if (runs.incrementAndGet() == 1) {
                throw new OutOfMemoryError("injected");
            }
        });
        job.start();
        try {
            await().atMost(Duration.ofSeconds(5)).until(() -> !job.healthy());
            assertThat(runs.get()).isEqualTo(1);
            job.supervise();
            await().atMost(Duration.ofSeconds(5)).until(() -> runs.get() >= 3 && job.healthy());
        } finally {
            job.stop(Duration.ofSeconds(1));
        }
    }

    @Test
    void aRunStuckPastItsLimitMakesTheJobUnhealthyAndIsReplaced() {
        AtomicInteger runs = new AtomicInteger();
        Worker job = Worker.every("test-stuck", Duration.ofMillis(10), Duration.ofMillis(300), () -> {
            if (runs.incrementAndGet() == 1) {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        job.start();
        try {
            await().atMost(Duration.ofSeconds(5)).until(() -> !job.healthy());
            job.supervise();
            await().atMost(Duration.ofSeconds(5)).until(() -> runs.get() >= 3 && job.healthy());
        } finally {
            job.stop(Duration.ofSeconds(1));
        }
    }
}
