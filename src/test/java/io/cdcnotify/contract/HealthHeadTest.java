package io.cdcnotify.contract;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@code HEAD /health}: the status of {@code GET /health}, without a body (load balancers' probes). */
class HealthHeadTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void headAnswersWithTheStatusAndNoBody() throws Exception {
        try (CdcServer server = CdcServer.start(DB); HttpClient http = HttpClient.newHttpClient()) {
            HttpRequest head = HttpRequest.newBuilder(server.http("/health"))
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(5)).build();
            await().atMost(Duration.ofSeconds(20))
                    .until(() -> http.send(head, HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
            HttpResponse<byte[]> res = http.send(head, HttpResponse.BodyHandlers.ofByteArray());
            assertThat(res.statusCode()).isEqualTo(200);
            assertThat(res.body()).isEmpty();
            assertThat(res.headers().firstValueAsLong("content-length").orElse(0)).isZero();
        }
    }
}
