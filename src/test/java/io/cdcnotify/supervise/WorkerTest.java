package io.cdcnotify.supervise;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** A worker that dies or sticks is unhealthy at once (death) or after its stall timeout, and is replaced. */
class WorkerTest {

    @Test
    void aWorkerKilledByAnErrorIsUnhealthyAndRestartedByTheWatchdog() throws Exception {
        AtomicInteger lives = new AtomicInteger();
        Worker worker = new Worker("test-dies", Duration.ofSeconds(5), life -> {
            if (lives.incrementAndGet() == 1) {
                throw new OutOfMemoryError("injected");
            }
            while (life.live()) {
                life.beat();
                Thread.sleep(10);
            }
        });
        try (Watchdog watchdog = new Watchdog(Duration.ofMillis(50))) {
            watchdog.supervise(worker::supervise);
            worker.start();
            watchdog.start();
            await().atMost(Duration.ofSeconds(5)).until(() -> lives.get() == 2 && worker.healthy());
            assertThat(worker.restarts()).isEqualTo(1);
            assertThat(watchdog.alive()).isTrue();
        } finally {
            worker.stop(Duration.ofSeconds(1));
        }
        assertThat(worker.healthy()).isFalse();
    }

    @Test
    void aWorkerWithoutProgressIsAbandonedInterruptedAndReplaced() throws Exception {
        AtomicBoolean stick = new AtomicBoolean(true);
        AtomicReference<Worker.Life> stuckLife = new AtomicReference<>();
        CountDownLatch interrupted = new CountDownLatch(1);
        AtomicInteger beatsAfter = new AtomicInteger();
        Worker worker = new Worker("test-sticks", Duration.ofMillis(300), life -> {
            if (stick.getAndSet(false)) {
                stuckLife.set(life);
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    interrupted.countDown();
                    throw e;
                }
            }
            while (life.live()) {
                life.beat();
                beatsAfter.incrementAndGet();
                Thread.sleep(10);
            }
        });
        worker.start();
        try {
            await().atMost(Duration.ofSeconds(2)).until(() -> !worker.healthy());
            worker.supervise();
            assertThat(interrupted.await(2, TimeUnit.SECONDS)).isTrue();
            assertThat(stuckLife.get().live()).isFalse(); // the abandoned thread can no longer act
            await().atMost(Duration.ofSeconds(2)).until(() -> beatsAfter.get() > 3 && worker.healthy());
            assertThat(worker.restarts()).isEqualTo(1);
        } finally {
            worker.stop(Duration.ofSeconds(1));
        }
    }
}
