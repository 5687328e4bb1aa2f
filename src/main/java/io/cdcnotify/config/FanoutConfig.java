package io.cdcnotify.config;

import java.time.Duration;
import java.util.Locale;

import io.helidon.config.Config;

/**
 * How events reach the instances: each instance reads the outbox itself ({@code DATABASE}, the default), or one
 * leader reads it and relays every event through a NATS JetStream stream to all instances ({@code NATS}).
 *
 * @param mode            {@code DATABASE} or {@code NATS}
 * @param natsUrl         the NATS server(s), comma-separated {@code nats://host:port}
 * @param stream          the JetStream stream's name
 * @param subjectPrefix   events go to {@code <prefix>.<encoded table>}
 * @param maxAge          how long the stream keeps events
 * @param duplicateWindow JetStream's window for de-duplicating by message id
 * @param lockKey         the PostgreSQL advisory lock whose holder is the leader
 * @param fallback        when NATS cannot be reached at start: {@code NONE} refuses to start, {@code DATABASE}
 *                        runs in database mode instead
 * @param partitionClose  a follower cut off from NATS this long closes its clients with their cursors
 * @param publishTimeout  longest wait for the stream to acknowledge a page
 */
public record FanoutConfig(Mode mode,
                           String natsUrl,
                           String stream,
                           String subjectPrefix,
                           Duration maxAge,
                           Duration duplicateWindow,
                           long lockKey,
                           Fallback fallback,
                           Duration partitionClose,
                           Duration publishTimeout) {

    public enum Mode { DATABASE, NATS }

    public enum Fallback { NONE, DATABASE }

    public static FanoutConfig from(Config root) {
        Config c = root.get("cdc.fanout");
        return new FanoutConfig(Mode.valueOf(c.get("mode").asString().orElse("database").toUpperCase(Locale.ROOT)),
                                c.get("nats-url").asString().orElse("nats://127.0.0.1:4222"),
                                c.get("stream").asString().orElse("CDC_EVENTS"),
                                c.get("subject-prefix").asString().orElse("cdc.events"),
                                Duration.ofSeconds(c.get("max-age-seconds").asLong().orElse(3600L)),
                                Duration.ofSeconds(c.get("duplicate-window-seconds").asLong().orElse(120L)),
                                c.get("lock-key").asLong().orElse(0x63646366616E6FL),
                                Fallback.valueOf(c.get("fallback").asString().orElse("none").toUpperCase(Locale.ROOT)),
                                Duration.ofSeconds(c.get("partition-close-seconds").asLong().orElse(10L)),
                                Duration.ofMillis(c.get("publish-timeout-ms").asLong().orElse(5000L)));
    }
}
