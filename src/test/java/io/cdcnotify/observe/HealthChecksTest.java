package io.cdcnotify.observe;

import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.health.HealthCheckType;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The checks behind {@code /observe/health}: readiness follows the database and the listener, as they are now. */
class HealthChecksTest {

    @Test
    void livenessIsTheProcessAndReadinessIsTheDatabaseAndTheListener() {
        List<HealthCheck> checks = HealthChecks.of(() -> true, () -> true);
        assertThat(checks).extracting(HealthCheck::name).containsExactly("process", "database", "listener");
        assertThat(checks).extracting(HealthCheck::type)
                .containsExactly(HealthCheckType.LIVENESS, HealthCheckType.READINESS, HealthCheckType.READINESS);
        assertThat(checks).allSatisfy(c -> assertThat(c.call().status()).isEqualTo(HealthCheckResponse.Status.UP));
    }

    @Test
    void eachReadinessCheckIsAskedAnewAndGoesDownOnItsOwn() {
        AtomicBoolean database = new AtomicBoolean(true);
        AtomicBoolean listener = new AtomicBoolean(true);
        List<HealthCheck> checks = HealthChecks.of(database::get, listener::get);
        listener.set(false);
        assertThat(checks.get(1).call().status()).isEqualTo(HealthCheckResponse.Status.UP);
        assertThat(checks.get(2).call().status()).isEqualTo(HealthCheckResponse.Status.DOWN);
        database.set(false);
        listener.set(true);
        assertThat(checks.get(1).call().status()).isEqualTo(HealthCheckResponse.Status.DOWN);
        assertThat(checks.get(2).call().status()).isEqualTo(HealthCheckResponse.Status.UP);
        assertThat(checks.get(0).call().status()).isEqualTo(HealthCheckResponse.Status.UP);
    }
}
