package io.cdcnotify.observe;

import java.util.List;
import java.util.function.BooleanSupplier;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;

/**
 * The service's own health checks, for Helidon's health observer ({@code /observe/health}): liveness is the
 * process answering at all; readiness is the database answering and the outbox listener connected, the same
 * two facts {@code GET /health} reports.
 */
final class HealthChecks {

    private HealthChecks() {
    }

    /** {@code process}, {@code database} and {@code listener}. */
    static List<HealthCheck> of(BooleanSupplier database, BooleanSupplier listener) {
        return List.of(check("process", HealthCheckType.LIVENESS, () -> true),
                       check("database", HealthCheckType.READINESS, database),
                       check("listener", HealthCheckType.READINESS, listener));
    }

    private static HealthCheck check(String name, HealthCheckType type, BooleanSupplier up) {
        return new HealthCheck() {
            @Override
            public HealthCheckType type() {
                return type;
            }

            @Override
            public String name() {
                return name;
            }

            @Override
            public String path() {
                return name;
            }

            @Override
            public HealthCheckResponse call() {
                return HealthCheckResponse.builder().status(up.getAsBoolean()).build();
            }
        };
    }
}
