package io.cdcnotify.observe;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.stream.Stream;

import io.helidon.common.Weighted;
import io.helidon.config.Config;
import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;
import io.helidon.http.Headers;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.spi.ServerFeature;
import io.helidon.webserver.observe.ObserveFeature;
import io.helidon.webserver.observe.health.HealthObserver;

/**
 * Helidon's observe feature as this service exposes it: Prometheus text at {@code /metrics} (the contract's path)
 * and health checks at {@code /observe/health}, {@code /observe/health/live} and {@code /observe/health/ready}.
 *
 * <p>Built here rather than discovered: the health checks need the service's own objects. {@code /metrics} is
 * {@link MetricsEndpoint}, not Helidon's metrics observer, which would add a filter (three frames under every
 * handler, ~1 kB a parked SSE stream) and replace the global registry whenever its configuration differs from
 * the one the registry was made with.
 *
 * <p>Health details (disk space, heap sizes, and the like) are for the operator: a request without an admin key
 * ({@code Authorization: Bearer <admin key>}) sees only UP or DOWN per check. Which requests may is
 * {@link #healthDetails()}, which the routing's first handler applies.
 *
 * <p>Configuration: everything under {@code server.features.observe} applies as Helidon documents it; in
 * addition {@code cdc.metrics.enabled: false} closes {@code /metrics}.
 */
public final class ObserveEndpoints {

    /** The configuration key that opens or closes {@code /metrics}. */
    public static final String METRICS_ENABLED = "cdc.metrics.enabled";
    /** Where the contract wants the Prometheus text. */
    public static final String METRICS_PATH = "/metrics";

    private final ServerFeature feature;
    private final Predicate<ServerRequest> details;

    private ObserveEndpoints(ServerFeature feature, Predicate<ServerRequest> details) {
        this.feature = feature;
        this.details = details;
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
    public static ObserveEndpoints create(Config config, Meters meters, BooleanSupplier database,
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
        boolean enabled = observe.get("enabled").asBoolean().orElse(true);
        List<String> sockets = observe.get("sockets").asList(String.class).orElse(List.of());
        ObserveFeature feature = ObserveFeature.builder()
                .enabled(enabled)
                .endpoint(observe.get("endpoint").asString().orElse("/observe"))
                .sockets(sockets)
                .observersDiscoverServices(false)
                .addObserver(health)
                .build();
        // a closed endpoint is simply absent (404): Helidon's "disabled" handler would answer 500
        Optional<MetricsEndpoint> metrics = enabled && metricsEnabled
                ? Optional.of(new MetricsEndpoint(meters.registry(), metricsConfig)) : Optional.empty();
        String metricsPath = metricsConfig.get("endpoint").asString().orElse(METRICS_PATH);
        Predicate<ServerRequest> details = req -> req.path().path().startsWith(healthPath) && admin.test(req.headers());
        return new ObserveEndpoints(new Feature(feature, sockets, metrics, metricsPath, details), details);
    }

    /** The observe feature to add to the server: health, {@code /metrics}, and the details filter on named sockets. */
    public ServerFeature feature() {
        return feature;
    }

    /**
     * Whether a request may see health details: what the routing's first handler ({@link ResponseCounter}) marks
     * on the default socket, so that no filter adds frames under every handler (a parked SSE stream keeps its
     * frames in the heap; docs/benchmarks.md, "Session 11").
     */
    public Predicate<ServerRequest> healthDetails() {
        return details;
    }

    /** Marks a request that may see health details as such, for as long as it is handled. */
    static void markDetails() {
        DETAILS.set(Boolean.TRUE); // the health handler runs after it, or within the filter's proceed(), on this thread
    }

    /** Ends what {@link #markDetails} began. */
    static void unmarkDetails() {
        DETAILS.remove();
    }

    /** Set while a request that may see health details is handled. */
    private static final ThreadLocal<Boolean> DETAILS = new ThreadLocal<>();

    /** A check that answers its details only within a request that may see them (marked by {@link ResponseCounter}, or on named sockets by the feature's filter). */
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

    /**
     * The observe feature, plus {@code /metrics} and, on named sockets other than the default one, the filter that
     * marks the requests allowed to see health details (the default socket's routing has {@link ResponseCounter}).
     */
    private record Feature(ObserveFeature observe, List<String> observeSockets, Optional<MetricsEndpoint> metrics,
                           String metricsPath, Predicate<ServerRequest> details) implements ServerFeature, Weighted {
        @Override
        public void setup(ServerFeatureContext context) {
            observe.setup(context);
            // the default socket is not among context.sockets(), which lists only the named extra ones
            for (String socket : context.sockets()) {
                if (!socket.equals(WebServer.DEFAULT_SOCKET_NAME)) {
                    context.socket(socket).httpRouting().addFilter((chain, req, res) -> {
                        boolean marked = details.test(req);
                        if (marked) {
                            markDetails();
                        }
                        try {
                            chain.proceed();
                        } finally {
                            if (marked) {
                                unmarkDetails();
                            }
                        }
                    });
                }
            }
            if (metrics.isPresent()) {
                List<String> at = observeSockets.isEmpty() ? List.of(WebServer.DEFAULT_SOCKET_NAME) : observeSockets;
                for (String socket : at) {
                    context.socket(socket).httpRouting().get(metricsPath, metrics.get());
                }
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
