package io.cdcnotify.observe;

import java.util.function.BooleanSupplier;

import io.helidon.config.Config;
import io.helidon.webserver.observe.ObserveFeature;
import io.helidon.webserver.observe.ObserveFeatureConfig;
import io.helidon.webserver.observe.health.HealthObserver;
import io.helidon.webserver.observe.metrics.MetricsObserver;

/**
 * Helidon's observe feature as this service exposes it: Prometheus text at {@code /metrics} (the contract's path)
 * and health checks at {@code /observe/health}, {@code /observe/health/live} and {@code /observe/health/ready}.
 *
 * <p>Built here rather than discovered, for two reasons: the health checks need the service's own objects, and
 * the metrics endpoint must serve the very registry {@link Meters} registered into (left alone, Helidon's
 * metrics observer replaces the global registry whenever its configuration differs from the one the registry
 * was made with, and the service's meters would vanish from the endpoint).
 *
 * <p>Configuration: everything under {@code server.features.observe} applies as Helidon documents it; in
 * addition {@code cdc.metrics.enabled: false} closes {@code /metrics}.
 */
public final class ObserveEndpoints {

    /** The configuration key that opens or closes {@code /metrics}. */
    public static final String METRICS_ENABLED = "cdc.metrics.enabled";
    /** Where the contract wants the Prometheus text. */
    public static final String METRICS_PATH = "/metrics";

    private ObserveEndpoints() {
    }

    /**
     * The observe feature to add to the server.
     *
     * @param config   the root configuration
     * @param meters   the service's meters, whose registry {@code /metrics} serves
     * @param database whether the database answers now
     * @param listener whether the outbox listener is connected now
     */
    public static ObserveFeature feature(Config config, Meters meters, BooleanSupplier database,
                                         BooleanSupplier listener) {
        Config observe = config.get("server.features.observe");
        Config metricsConfig = observe.get("observers.metrics");
        Config healthConfig = observe.get("observers.health");
        boolean metricsEnabled = config.get(METRICS_ENABLED).asBoolean().orElse(true)
                && metricsConfig.get("enabled").asBoolean().orElse(true);
        HealthObserver health = HealthObserver.builder()
                .config(healthConfig)
                .details(healthConfig.get("details").asBoolean().orElse(true))
                .addChecks(HealthChecks.of(database, listener).toArray(io.helidon.health.HealthCheck[]::new))
                .build();
        // not .config(observe): that would bring back the observers named in the configuration, this one too
        ObserveFeatureConfig.Builder feature = ObserveFeature.builder()
                .enabled(observe.get("enabled").asBoolean().orElse(true))
                .endpoint(observe.get("endpoint").asString().orElse("/observe"))
                .sockets(observe.get("sockets").asList(String.class).orElse(java.util.List.of()))
                .observersDiscoverServices(false)
                .addObserver(health);
        if (metricsEnabled) {
            // a closed endpoint is simply absent (404): Helidon's "disabled" handler would answer 500
            feature.addObserver(MetricsObserver.builder()
                                        .config(metricsConfig)
                                        .endpoint(metricsConfig.get("endpoint").asString().orElse(METRICS_PATH))
                                        .meterRegistry(meters.registry())
                                        .build());
        }
        return feature.build();
    }
}
