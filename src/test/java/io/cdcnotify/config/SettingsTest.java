package io.cdcnotify.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.helidon.config.Config;
import io.helidon.config.ConfigSources;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 1: the environment variables override {@code application.yaml}, which overrides the built-in
 * defaults; each variable lands on the key the records read.
 */
class SettingsTest {

    /** Every environment variable the contract names. */
    private static final List<String> CONTRACT_VARIABLES = List.of(
            "SERVER_PORT", "SERVER_HOST", "DB_URL", "DB_USER", "DB_PASSWORD", "CDC_ADMIN_KEY",
            "CDC_MAX_CONNECTIONS_PER_KEY", "CDC_MAX_SUBSCRIPTIONS_PER_CONNECTION", "CDC_MAX_MESSAGES_PER_SECOND",
            "CDC_MAX_FRAME_BYTES", "CDC_AUTH_TIMEOUT_SECONDS", "CDC_CLIENT_BUFFER_EVENTS", "CDC_QUEUE_MAX_EVENTS",
            "CDC_DETACHED_TTL_SECONDS", "CDC_OUTBOX_RETENTION_SECONDS");

    @Test
    void everyContractVariableIsMapped() {
        assertThat(Settings.ENVIRONMENT).containsKeys(CONTRACT_VARIABLES.toArray(String[]::new));
    }

    @Test
    void everyContractVariableMapsToAKeyOfTheBuiltInFile() {
        Config builtIn = Config.builder()
                .disableEnvironmentVariablesSource()
                .disableSystemPropertiesSource()
                .sources(ConfigSources.classpath("application.yaml"))
                .build();
        for (String variable : CONTRACT_VARIABLES) {
            String key = Settings.ENVIRONMENT.get(variable);
            assertThat(builtIn.get(key).exists()).as("%s -> %s", variable, key).isTrue();
        }
        assertThat(builtIn.get(Settings.ENVIRONMENT.get("CDC_LISTENER_MODE")).exists()).isTrue();
    }

    @Test
    void noTwoVariablesShareAKey() {
        assertThat(Settings.ENVIRONMENT.values()).doesNotHaveDuplicates();
    }

    @Test
    void theDefaultsAreTheContracts() {
        // the jar's defaults alone: the repository's ./application.yaml (the tests' working directory) is left out
        Config c = Settings.load(Map.of(), Map.of(), Path.of("target", "no-such-dir", "application.yaml"));

        assertThat(c.get("server.port").asInt().get()).isEqualTo(8080);
        assertThat(c.get("server.host").asString().get()).isEqualTo("0.0.0.0");
        DbConfig db = DbConfig.from(c);
        assertThat(db.url()).isEqualTo("jdbc:postgresql://127.0.0.1:5432/postgres");
        assertThat(db.user()).isEqualTo("postgres");
        assertThat(db.password()).isEmpty();
        assertThat(AuthConfig.from(c).adminKey()).isEmpty();
        LimitsConfig limits = LimitsConfig.from(c);
        assertThat(limits.maxConnectionsPerKey()).isEqualTo(20_000);
        assertThat(limits.maxSubscriptionsPerConnection()).isEqualTo(100);
        assertThat(limits.maxMessagesPerSecond()).isEqualTo(100);
        assertThat(limits.maxFrameBytes()).isEqualTo(65_536);
        assertThat(limits.authTimeout()).isEqualTo(Duration.ofSeconds(10));
        assertThat(limits.clientBufferEvents()).isEqualTo(10_000);
        SubscriptionConfig subscriptions = SubscriptionConfig.from(c);
        assertThat(subscriptions.queueMaxEvents()).isEqualTo(10_000);
        assertThat(subscriptions.detachedTtl()).isEqualTo(Duration.ofMinutes(5));
        assertThat(OutboxConfig.from(c).retention()).isEqualTo(Duration.ofDays(1));
        assertThat(ListenerConfig.from(c).mode()).isEqualTo(ListenerConfig.Mode.NOTIFY);
    }

    @Test
    void everyContractVariableOverridesItsSetting() {
        Map<String, String> env = new HashMap<>();
        env.put("SERVER_PORT", "18081");
        env.put("SERVER_HOST", "127.0.0.2");
        env.put("DB_URL", "jdbc:postgresql://db.example:6543/cdc");
        env.put("DB_USER", "cdc_user");
        env.put("DB_PASSWORD", "s3cret");
        env.put("CDC_ADMIN_KEY", "admin-key-value");
        env.put("CDC_MAX_CONNECTIONS_PER_KEY", "11");
        env.put("CDC_MAX_SUBSCRIPTIONS_PER_CONNECTION", "12");
        env.put("CDC_MAX_MESSAGES_PER_SECOND", "13");
        env.put("CDC_MAX_FRAME_BYTES", "1400");
        env.put("CDC_AUTH_TIMEOUT_SECONDS", "15");
        env.put("CDC_CLIENT_BUFFER_EVENTS", "16");
        env.put("CDC_QUEUE_MAX_EVENTS", "17");
        env.put("CDC_DETACHED_TTL_SECONDS", "18");
        env.put("CDC_OUTBOX_RETENTION_SECONDS", "19");

        Config c = Settings.load(env, Map.of());

        assertThat(c.get("server.port").asInt().get()).isEqualTo(18081);
        assertThat(c.get("server.host").asString().get()).isEqualTo("127.0.0.2");
        DbConfig db = DbConfig.from(c);
        assertThat(db.url()).isEqualTo("jdbc:postgresql://db.example:6543/cdc");
        assertThat(db.user()).isEqualTo("cdc_user");
        assertThat(db.password()).isEqualTo("s3cret");
        AuthConfig auth = AuthConfig.from(c);
        assertThat(auth.adminKey()).contains("admin-key-value");
        assertThat(auth.toString()).doesNotContain("admin-key-value");
        LimitsConfig limits = LimitsConfig.from(c);
        assertThat(limits.maxConnectionsPerKey()).isEqualTo(11);
        assertThat(limits.maxSubscriptionsPerConnection()).isEqualTo(12);
        assertThat(limits.maxMessagesPerSecond()).isEqualTo(13);
        assertThat(limits.maxFrameBytes()).isEqualTo(1400);
        assertThat(limits.authTimeout()).isEqualTo(Duration.ofSeconds(15));
        assertThat(limits.clientBufferEvents()).isEqualTo(16);
        SubscriptionConfig subscriptions = SubscriptionConfig.from(c);
        assertThat(subscriptions.queueMaxEvents()).isEqualTo(17);
        assertThat(subscriptions.detachedTtl()).isEqualTo(Duration.ofSeconds(18));
        assertThat(OutboxConfig.from(c).retention()).isEqualTo(Duration.ofSeconds(19));
        // settings without a variable keep their defaults
        assertThat(limits.maxSubscriptionsPerKey()).isEqualTo(200_000);
        assertThat(db.poolSize()).isEqualTo(10);
    }

    @Test
    void blankVariablesAreIgnored() {
        Config c = Settings.load(Map.of("CDC_MAX_FRAME_BYTES", "  ", "DB_USER", "", "CDC_ADMIN_KEY", " "),
                                 Map.of());

        assertThat(LimitsConfig.from(c).maxFrameBytes()).isEqualTo(65_536);
        assertThat(DbConfig.from(c).user()).isEqualTo("postgres");
        assertThat(AuthConfig.from(c).adminKey()).isEmpty();
    }

    @Test
    void onlyTheContractsVariablesCount() {
        Map<String, String> env = Map.of(
                "cdc.limits.max-frame-bytes", "1",        // a configuration key is not a variable
                "CDC_LIMITS_MAX_FRAME_BYTES", "2",        // nor Helidon's own environment mapping
                "CDC_MAX_FRAME_BYTES_OLD", "3",
                "max_frame_bytes", "4");

        Config c = Settings.load(env, Map.of());

        assertThat(LimitsConfig.from(c).maxFrameBytes()).isEqualTo(65_536);
    }

    @Test
    void keysOverrideTheEnvironmentAndSetWhatHasNoVariable() {
        Config c = Settings.load(Map.of("CDC_MAX_FRAME_BYTES", "2000"),
                                 Map.of("cdc.limits.max-frame-bytes", "3000",
                                        "cdc.limits.max-subscriptions-per-key", "7"));

        assertThat(LimitsConfig.from(c).maxFrameBytes()).isEqualTo(3000);
        assertThat(LimitsConfig.from(c).maxSubscriptionsPerKey()).isEqualTo(7);
        assertThat(Settings.load(Map.of("CDC_MAX_FRAME_BYTES", "2000")).get("cdc.limits.max-frame-bytes").asInt().get())
                .isEqualTo(2000);
    }

    @Test
    void pollModeReadsItsOwnInterval() {
        Config c = Settings.load(Map.of("CDC_LISTENER_MODE", "poll"), Map.of());

        ListenerConfig listener = ListenerConfig.from(c);
        assertThat(listener.mode()).isEqualTo(ListenerConfig.Mode.POLL);
        assertThat(listener.pollInterval()).isEqualTo(Duration.ofMillis(5));
        assertThat(ListenerConfig.from(Settings.load(Map.of(), Map.of())).pollInterval())
                .isEqualTo(Duration.ofSeconds(1));
    }
}
