package io.cdcnotify.config;

import java.time.Duration;

import io.helidon.config.Config;

/**
 * The outbox's housekeeping.
 *
 * @param retention   how long rows are kept for resume
 * @param purgeBatch  rows deleted per statement by the retention job
 * @param pageBytes   payload bytes one read of the outbox holds at most (beyond its first row)
 */
public record OutboxConfig(Duration retention, int purgeBatch, long pageBytes) {

    public OutboxConfig(Duration retention, int purgeBatch) {
        this(retention, purgeBatch, io.cdcnotify.outbox.OutboxReader.DEFAULT_PAGE_BYTES);
    }

    public static OutboxConfig from(Config root) {
        Config c = root.get("cdc.outbox");
        return new OutboxConfig(Duration.ofSeconds(c.get("retention-seconds").asLong().get()),
                                c.get("purge-batch").asInt().get(),
                                c.get("page-bytes").asLong().orElse(io.cdcnotify.outbox.OutboxReader.DEFAULT_PAGE_BYTES));
    }

    /** The contract: older rows go within max(10 s, retention/10). */
    public Duration purgeInterval() {
        Duration tenth = retention.dividedBy(10);
        Duration floor = Duration.ofSeconds(10);
        return (tenth.compareTo(floor) < 0 ? floor : tenth).dividedBy(2);
    }
}
