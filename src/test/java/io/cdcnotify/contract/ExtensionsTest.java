package io.cdcnotify.contract;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What the service answers beyond contract v1: {@code HEAD /health} (the status of {@code GET /health} without a
 * body, for probes) and {@code GET /v1/keys/self} (any key's own record, for the console).
 */
class ExtensionsTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void anyKeyMayReadItsOwnRecordAndNoMore() {
        try (CdcServer server = CdcServer.start(DB)) {
            String key = Api.createKey(server, List.of("orders", "customers"));
            Api.Response self = Api.get(server.http("/v1/keys/self"), key);
            assertThat(self.status()).isEqualTo(200);
            JsonNode json = self.json();
            assertThat(json.get("id").asText()).startsWith("key_");
            assertThat(json.get("admin").asBoolean()).isFalse();
            assertThat(json.get("tables")).hasSize(2);
            assertThat(self.body()).doesNotContain(key).doesNotContain("hash");
            assertThat(fieldNames(json)).containsExactlyInAnyOrder("id", "name", "tables", "admin", "expires_at",
                                                                   "created_at");

            JsonNode admin = Api.get(server.http("/v1/keys/self"), CdcServer.ADMIN_KEY).json();
            assertThat(admin.get("id").asText()).isEqualTo("admin");
            assertThat(admin.get("admin").asBoolean()).isTrue();

            assertThat(Api.get(server.http("/v1/keys/self"), null).status()).isEqualTo(401);
            assertThat(Api.get(server.http("/v1/keys/self"), "cdc_not-a-key").status()).isEqualTo(401);
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new java.util.ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }

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
