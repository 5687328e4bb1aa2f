package io.cdcnotify.config;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;

/**
 * Loads the service's configuration: the contract's environment variables over {@code ./application.yaml}
 * over the defaults inside the jar.
 *
 * <p>The contract names flat environment variables ({@code CDC_MAX_FRAME_BYTES}); Helidon's own environment
 * mapping would turn them into {@code cdc.max.frame.bytes}, so each is mapped here, once, to the key the
 * YAML file uses.
 */
public final class Settings {

    /** Contract environment variable → configuration key. */
    public static final Map<String, String> ENVIRONMENT = environment();

    private Settings() {
    }

    private static Map<String, String> environment() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("SERVER_PORT", "server.port");
        m.put("SERVER_HOST", "server.host");
        m.put("DB_URL", "db.url");
        m.put("DB_USER", "db.user");
        m.put("DB_PASSWORD", "db.password");
        m.put("CDC_ADMIN_KEY", "cdc.auth.admin-key");
        m.put("CDC_MAX_CONNECTIONS_PER_KEY", "cdc.limits.max-connections-per-key");
        m.put("CDC_MAX_SUBSCRIPTIONS_PER_CONNECTION", "cdc.limits.max-subscriptions-per-connection");
        m.put("CDC_MAX_MESSAGES_PER_SECOND", "cdc.limits.max-messages-per-second");
        m.put("CDC_MAX_FRAME_BYTES", "cdc.limits.max-frame-bytes");
        m.put("CDC_AUTH_TIMEOUT_SECONDS", "cdc.limits.auth-timeout-seconds");
        m.put("CDC_CLIENT_BUFFER_EVENTS", "cdc.limits.client-buffer-events");
        m.put("CDC_CLIENT_BUFFER_BYTES", "cdc.limits.client-buffer-bytes");
        m.put("CDC_TOTAL_BUFFER_BYTES", "cdc.limits.total-buffer-bytes");
        m.put("CDC_QUEUE_MAX_BYTES", "cdc.subscriptions.queue-max-bytes");
        m.put("CDC_QUEUE_MAX_EVENTS", "cdc.subscriptions.queue-max-events");
        m.put("CDC_DETACHED_TTL_SECONDS", "cdc.subscriptions.detached-ttl-seconds");
        m.put("CDC_OUTBOX_RETENTION_SECONDS", "cdc.outbox.retention-seconds");
        m.put("CDC_LISTENER_MODE", "cdc.listener.mode");
        m.put("CDC_METRICS_ENABLED", "cdc.metrics.enabled");
        m.put("CDC_FANOUT", "cdc.fanout.mode");
        m.put("CDC_NATS_URL", "cdc.fanout.nats-url");
        m.put("CDC_NATS_STREAM", "cdc.fanout.stream");
        m.put("CDC_FANOUT_FALLBACK", "cdc.fanout.fallback");
        m.put("CDC_CORS_ALLOWED_ORIGINS", "cdc.cors.allowed-origins");
        m.put("CDC_TLS_KEYSTORE", "server.tls.private-key.keystore.resource.path");
        m.put("CDC_TLS_KEYSTORE_PASSWORD", "server.tls.private-key.keystore.passphrase");
        return Map.copyOf(m);
    }

    /** The configuration a started service uses. */
    public static Config load() {
        return load(System.getenv());
    }

    /** The configuration for a given environment (tests pass their own). */
    public static Config load(Map<String, String> env) {
        return load(env, Map.of());
    }

    /**
     * The configuration for a given environment, with some configuration keys set directly on top (tests use
     * this for settings that have no environment variable).
     */
    public static Config load(Map<String, String> env, Map<String, String> keys) {
        return load(env, keys, Path.of("application.yaml"));
    }

    /** As {@link #load(Map, Map)}, with the working directory's file given (tests name one that is absent). */
    static Config load(Map<String, String> env, Map<String, String> keys, Path workingFile) {
        Map<String, String> overrides = new LinkedHashMap<>();
        ENVIRONMENT.forEach((variable, key) -> {
            String value = env.get(variable);
            if (value != null && !value.isBlank()) {
                overrides.put(key, value);
            }
        });
        return Config.builder()
                .disableEnvironmentVariablesSource()
                .disableSystemPropertiesSource()
                .sources(List.of(ConfigSources.create(keys, "keys"),
                                 ConfigSources.create(overrides, "environment"),
                                 ConfigSources.systemProperties(),
                                 ConfigSources.file(workingFile).optional(),
                                 ConfigSources.classpath("application.yaml")))
                .build();
    }
}
