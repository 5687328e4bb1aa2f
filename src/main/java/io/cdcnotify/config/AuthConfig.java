package io.cdcnotify.config;

import java.time.Duration;
import java.util.Optional;

import io.helidon.config.Config;

/**
 * API keys.
 *
 * @param adminKey     the bootstrap admin key ({@code CDC_ADMIN_KEY}), if set
 * @param cacheTtl     how long a validated key is trusted without asking the database again
 * @param sweepInterval how often live connections' keys are checked for revocation and expiry
 */
public record AuthConfig(Optional<String> adminKey, Duration cacheTtl, Duration sweepInterval) {

    public static AuthConfig from(Config root) {
        Config c = root.get("cdc.auth");
        return new AuthConfig(c.get("admin-key").asString().asOptional().filter(s -> !s.isBlank()),
                              Duration.ofMillis(c.get("cache-ttl-ms").asLong().get()),
                              Duration.ofMillis(c.get("sweep-interval-ms").asLong().get()));
    }

    @Override
    public String toString() {
        // never print the admin key
        return "AuthConfig[adminKey=" + (adminKey.isPresent() ? "<set>" : "<unset>")
                + ", cacheTtl=" + cacheTtl + ", sweepInterval=" + sweepInterval + "]";
    }
}
