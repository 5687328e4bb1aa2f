package io.cdcnotify.config;

import java.time.Duration;

import io.helidon.config.Config;

/**
 * The limits the contract lets an operator set, and a few more of our own.
 *
 * <p>Memory (docs/operations.md, "Memory model"): {@code clientBufferBytes} bounds what one connection holds,
 * {@code totalBufferBytes} what the instance buffers for all clients together (0 in the configuration means an
 * eighth of the maximum heap), {@code closeGrace} how long a connection that must end may keep its writer stuck
 * in a write before its socket is closed from outside.
 */
public record LimitsConfig(int maxConnectionsPerKey,
                           int maxSubscriptionsPerConnection,
                           int maxSubscriptionsPerKey,
                           int maxTablesPerSubscription,
                           int maxMessagesPerSecond,
                           int maxFrameBytes,
                           Duration authTimeout,
                           int clientBufferEvents,
                           int maxRequestBytes,
                           long clientBufferBytes,
                           long totalBufferBytes,
                           Duration closeGrace) {

    /** The default of {@code total-buffer-bytes}: an eighth of the maximum heap. */
    public static long defaultTotalBufferBytes() {
        return Runtime.getRuntime().maxMemory() / 8;
    }

    public static LimitsConfig from(Config root) {
        Config c = root.get("cdc.limits");
        return new LimitsConfig(c.get("max-connections-per-key").asInt().get(),
                                c.get("max-subscriptions-per-connection").asInt().get(),
                                c.get("max-subscriptions-per-key").asInt().get(),
                                c.get("max-tables-per-subscription").asInt().get(),
                                c.get("max-messages-per-second").asInt().get(),
                                c.get("max-frame-bytes").asInt().get(),
                                Duration.ofSeconds(c.get("auth-timeout-seconds").asLong().get()),
                                c.get("client-buffer-events").asInt().get(),
                                c.get("max-request-bytes").asInt().get(),
                                positive(c, "client-buffer-bytes"),
                                total(c.get("total-buffer-bytes").asLong().orElse(0L)),
                                Duration.ofMillis(c.get("close-grace-ms").asLong().orElse(2000L)));
    }

    private static long total(long configured) {
        if (configured < 0) {
            throw new IllegalArgumentException("cdc.limits.total-buffer-bytes must be 0 (an eighth of the heap) or more");
        }
        return configured == 0 ? defaultTotalBufferBytes() : configured;
    }

    private static long positive(Config c, String key) {
        long v = c.get(key).asLong().get();
        if (v <= 0) {
            throw new IllegalArgumentException("cdc.limits." + key + " must be positive");
        }
        return v;
    }
}
