package io.cdcnotify.observe;

import java.util.Arrays;
import java.util.List;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.stream.Stream;

import io.helidon.common.Weighted;
import io.helidon.config.Config;
import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;
import io.helidon.http.Headers;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.spi.ServerFeature;
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
 * <p>Health details (disk space, heap sizes, and the like) are for the operator: a request without an admin key
 * ({@code Authorization: Bearer <admin key>}) sees only UP or DOWN per check.
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
     * @param admin    whether a request's headers carry an admin key: only then do health checks show details
     */
    public static ServerFeature feature(Config config, Meters meters, BooleanSupplier database,
                                        BooleanSupplier listener, Predicate<Headers> admin) {
        Config observe = config.get("server.features.observe");
        Config metricsConfig = observe.get("observers.metrics");
        Config healthConfig = observe.get("observers.health");
        boolean metricsEnabled = config.get(METRICS_ENABLED).asBoolean().orElse(true)
                && metricsConfig.get("enabled").asBoolean().orElse(true);
        // Helidon's built-in checks, added here rather than discovered, so that they too hide their details
        HealthCheck[] builtIn = healthConfig.get("use-system-services").asBoolean().orElse(true)
                ? io.helidon.health.checks.HealthChecks.healthChecks(healthConfig) : new HealthCheck[0];
        List<HealthCheck> checks = Stream.concat(HealthChecks.of(database, listener).stream(), Arrays.stream(builtIn))
                .map(ObserveEndpoints::detailsForAdminsOnly)
                .toList();
        String healthEndpoint = healthConfig.get("endpoint").asString().orElse("health");
        String healthPath = healthEndpoint.startsWith("/") ? healthEndpoint
                : observe.get("endpoint").asString().orElse("/observe") + "/" + healthEndpoint;
        HealthObserver health = HealthObserver.builder()
                .config(healthConfig)
                .useSystemServices(false)
                .details(healthConfig.get("details").asBoolean().orElse(true))
                .addChecks(checks.toArray(HealthCheck[]::new))
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
        return new GuardedObserve(feature.build(), (chain, req, res) -> {
            if (!req.path().path().startsWith(healthPath) || !admin.test(req.headers())) {
                chain.proceed();
                return;
            }
            DETAILS.set(Boolean.TRUE); // the health handler runs within proceed(), on this thread
            try {
                chain.proceed();
            } finally {
                DETAILS.remove();
            }
        });
    }

    /** Set while a request that may see health details is handled. */
    private static final ThreadLocal<Boolean> DETAILS = new ThreadLocal<>();

    /** A check that answers its details only within a request that may see them (see the filter above). */
    private static HealthCheck detailsForAdminsOnly(HealthCheck check) {
        return new HealthCheck() {
            @Override
            public HealthCheckType type() {
                return check.type();
            }

            @Override
            public String name() {
                return check.name();
            }

            @Override
            public String path() {
                return check.path();
            }

            @Override
            public HealthCheckResponse call() {
                HealthCheckResponse response;
                try {
                    response = check.call();
                } catch (RuntimeException e) {
                    return HealthCheckResponse.builder().status(false).build();
                }
                boolean details = Boolean.TRUE.equals(DETAILS.get());
                return details ? response : HealthCheckResponse.builder().status(response.status()).build();
            }
        };
    }

    /** The observe feature, plus the filter that marks the requests allowed to see health details. */
    private record GuardedObserve(ObserveFeature observe, Filter details) implements ServerFeature, Weighted {
        @Override
        public void setup(ServerFeatureContext context) {
            observe.setup(context);
            // the default socket is not among context.sockets(), which lists only the named extra ones
            java.util.Set<String> sockets = new java.util.LinkedHashSet<>(context.sockets());
            sockets.add(io.helidon.webserver.WebServer.DEFAULT_SOCKET_NAME);
            for (String socket : sockets) {
                context.socket(socket).httpRouting().addFilter(details);
            }
        }

        @Override
        public String name() {
            return observe.name();
        }

        @Override
        public String type() {
            return observe.type();
        }

        @Override
        public double weight() {
            return observe.weight();
        }
    }
}
