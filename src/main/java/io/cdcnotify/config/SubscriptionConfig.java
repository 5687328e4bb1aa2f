package io.cdcnotify.config;

import java.time.Duration;

import io.helidon.config.Config;

/**
 * Durable subscriptions.
 *
 * @param queueMaxEvents  events kept for one detached subscription
 * @param queueMaxBytes   encoded bytes kept for all detached subscriptions of this instance together
 * @param detachedTtl     how long a subscription outlives its last client
 */
public record SubscriptionConfig(int queueMaxEvents, long queueMaxBytes, Duration detachedTtl) {

    public static SubscriptionConfig from(Config root) {
        Config c = root.get("cdc.subscriptions");
        return new SubscriptionConfig(c.get("queue-max-events").asInt().get(),
                                      c.get("queue-max-bytes").asLong().get(),
                                      Duration.ofSeconds(c.get("detached-ttl-seconds").asLong().get()));
    }
}
