package io.cdcnotify.supervise;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The timer thread is healthy while it beats: a task that holds it makes it unhealthy until the task ends. */
class SchedulerTest {

    @Test
    void aTaskThatHoldsTheThreadMakesItUnhealthyUntilItEnds() {
        CountDownLatch release = new CountDownLatch(1);
        try (Scheduler scheduler = new Scheduler("test-timer", Duration.ofMillis(1500))) {
            assertThat(scheduler.healthy()).as("not started").isFalse();
            scheduler.start();
            assertThat(scheduler.healthy()).isTrue();
            scheduler.executor().execute(() -> {
                try {
                    release.await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            await().atMost(Duration.ofSeconds(10)).until(() -> !scheduler.healthy());
            release.countDown();
            await().atMost(Duration.ofSeconds(10)).until(scheduler::healthy);
            scheduler.close();
            assertThat(scheduler.healthy()).isFalse();
        }
    }
}
