package io.cdcnotify.config;

import java.time.Duration;
import java.util.Locale;

import io.helidon.config.Config;

/**
 * How the outbox is watched.
 *
 * @param mode            {@code NOTIFY}: LISTEN for the trigger's doorbell and poll as a safety net;
 *                        {@code POLL}: no LISTEN at all, read every {@code pollInterval}
 * @param pollInterval    time between reads when no doorbell rang: a safety net in {@code NOTIFY} mode, the
 *                        only trigger in {@code POLL} mode
 * @param coalesce        in {@code NOTIFY} mode, the least time from the start of one read to the start of the next
 *                        while the doorbell keeps ringing: the first ring after a quiet spell is read at once, a
 *                        burst of rings is read at most once per this interval
 * @param busyCoalesce    the same while the outbox is busy (the last read found at least {@link #BUSY_EVENTS}
 *                        events): fewer, fuller reads under load, where each read costs the database more than
 *                        the wait adds to latency
 * @param waitTimeout     longest single {@code getNotifications} wait; also bounds how stale a dead
 *                        connection can go unnoticed
 * @param maxBackoff      cap of the reconnect backoff
 * @param validityCheck   how often the idle LISTEN connection is probed with a query
 * @param stallTimeout    a listener thread whose loop has not come round for this long is stuck: {@code /health}
 *                        says DOWN and the watchdog replaces it
 * @param pageSize        outbox rows read per statement
 */
public record ListenerConfig(Mode mode,
                             Duration pollInterval,
                             Duration coalesce,
                             Duration busyCoalesce,
                             Duration waitTimeout,
                             Duration maxBackoff,
                             Duration validityCheck,
                             Duration stallTimeout,
                             int pageSize) {

    public enum Mode { NOTIFY, POLL }

    /** A read that finds at least this many events counts as busy (see {@code busyCoalesce}). */
    public static final int BUSY_EVENTS = 8;

    public static ListenerConfig from(Config root) {
        Config c = root.get("cdc.listener");
        Mode mode = Mode.valueOf(c.get("mode").asString().get().toUpperCase(Locale.ROOT));
        String interval = mode == Mode.POLL ? "poll-only-interval-ms" : "poll-interval-ms";
        return new ListenerConfig(mode,
                                  Duration.ofMillis(c.get(interval).asLong().get()),
                                  Duration.ofMillis(c.get("coalesce-ms").asLong().orElse(2L)),
                                  Duration.ofMillis(c.get("coalesce-busy-ms").asLong().orElse(5L)),
                                  Duration.ofMillis(c.get("wait-timeout-ms").asLong().get()),
                                  Duration.ofMillis(c.get("max-backoff-ms").asLong().get()),
                                  Duration.ofMillis(c.get("validity-check-ms").asLong().get()),
                                  Duration.ofMillis(c.get("stall-timeout-ms").asLong().orElse(10_000L)),
                                  c.get("page-size").asInt().get());
    }
}
