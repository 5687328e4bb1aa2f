package io.cdcnotify.config;

import java.time.Duration;

import io.helidon.config.Config;

/** The limits the contract lets an operator set, and a few more of our own. */
public record LimitsConfig(int maxConnectionsPerKey,
                           int maxSubscriptionsPerConnection,
                           int maxSubscriptionsPerKey,
                           int maxTablesPerSubscription,
                           int maxMessagesPerSecond,
                           int maxFrameBytes,
                           Duration authTimeout,
                           int clientBufferEvents,
                           int maxRequestBytes) {

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
                                c.get("max-request-bytes").asInt().get());
    }
}
