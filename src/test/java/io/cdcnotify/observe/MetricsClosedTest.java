package io.cdcnotify.observe;

import java.util.Map;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code cdc.metrics.enabled: false} closes {@code GET /metrics}; health and the service stay as they are. */
class MetricsClosedTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void closedMetricsAnswer404WithTheContractBody() {
        try (CdcServer server = CdcServer.start(DB, Map.of(ObserveEndpoints.METRICS_ENABLED, "false"))) {
            Api.Response metrics = Api.get(server.http("/metrics"), null);
            assertThat(metrics.status()).isEqualTo(404);
            assertThat(metrics.json().get("code").asText()).isEqualTo("not_found");
            assertThat(Api.get(server.http("/observe/metrics"), null).status()).isEqualTo(404);
            // health is still there (ready or not: the listener may still be connecting)
            assertThat(Api.get(server.http("/observe/health/live"), null).status()).isEqualTo(200);
            assertThat(Api.get(server.http("/observe/health/ready"), null).status()).isIn(200, 503);
            assertThat(Api.get(server.http("/health"), null).status()).isIn(200, 503);
        }
    }

    @Test
    void openByDefaultAtTheContractPathOnly() {
        try (CdcServer server = CdcServer.start(DB)) {
            Api.Response metrics = Api.get(server.http("/metrics"), null);
            assertThat(metrics.status()).isEqualTo(200);
            assertThat(metrics.raw().headers().firstValue("content-type")).hasValueSatisfying(
                    t -> assertThat(t).startsWith("text/plain"));
            assertThat(metrics.body()).contains("cdc_events_received_total");
            assertThat(Api.get(server.http("/observe/metrics"), null).status()).isEqualTo(404);
        }
    }
}
