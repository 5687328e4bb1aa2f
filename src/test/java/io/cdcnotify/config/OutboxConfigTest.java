package io.cdcnotify.config;

import java.time.Duration;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 1: rows older than the retention are deleted within max(10 s, retention/10). The purge runs
 * every {@code purgeInterval}, so that interval plus the purge itself must fit in that bound.
 */
class OutboxConfigTest {

    @Property(tries = 2000)
    void thePurgeRunsOftenEnoughToMeetTheBound(@ForAll @LongRange(min = 0, max = 10L * 365 * 86_400) long seconds) {
        Duration retention = Duration.ofSeconds(seconds);
        Duration bound = max(Duration.ofSeconds(10), retention.dividedBy(10));

        Duration interval = new OutboxConfig(retention, 1000).purgeInterval();

        assertThat(interval).as("a positive interval, not a busy loop").isGreaterThanOrEqualTo(Duration.ofSeconds(1));
        assertThat(interval).as("room left for the purge itself within %s", bound).isLessThan(bound);
        assertThat(interval.multipliedBy(4)).as("not needlessly often").isGreaterThanOrEqualTo(bound);
    }

    @Test
    void examples() {
        assertThat(new OutboxConfig(Duration.ofDays(1), 1000).purgeInterval()).isEqualTo(Duration.ofSeconds(4320));
        assertThat(new OutboxConfig(Duration.ofSeconds(60), 1000).purgeInterval()).isEqualTo(Duration.ofSeconds(5));
        assertThat(new OutboxConfig(Duration.ofSeconds(1), 1000).purgeInterval()).isEqualTo(Duration.ofSeconds(5));
        assertThat(new OutboxConfig(Duration.ofSeconds(200), 1000).purgeInterval()).isEqualTo(Duration.ofSeconds(10));
    }

    private static Duration max(Duration a, Duration b) {
        return a.compareTo(b) >= 0 ? a : b;
    }
}
