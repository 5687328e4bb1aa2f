package io.cdcnotify.security;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import ch.qos.logback.classic.spi.ILoggingEvent;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.LogCapture;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import net.logstash.logback.encoder.LogstashEncoder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** Revocation and expiry reach live connections within 5 s (and expiry never early); no key is ever logged. */
class KeyLifetimeTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    /** Opened before the class's server starts (a static field is set before the extension runs). */
    private static final LogCapture LOGS = new LogCapture();

    @AfterAll
    static void stop() {
        LOGS.close();
    }

    @Test
    void revokingAKeyClosesItsWebSocketsWith4403AndEndsItsStreamsWithin5s() {
        Api.Response made = Api.postJson(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                         Map.of("name", "doomed", "tables", List.of("orders")));
        String key = made.json().get("key").asText();
        String id = made.json().get("id").asText();
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), key);
             SseTestClient sse = SseTestClient.subscribed(CDC.server(), key, "orders")) {
            ws.subscribe("r", List.of("orders"));
            long revoked = System.nanoTime();
            assertThat(Api.delete(CDC.server().http("/v1/keys/" + id), CdcServer.ADMIN_KEY).status()).isEqualTo(204);
            assertThat(ws.closed().code()).isEqualTo(4403);
            SseTestClient.Event error = sse.expect("error");
            assertThat(error.json().get("code").asText()).isEqualTo("unauthorized");
            sse.awaitEnd(Duration.ofSeconds(5));
            assertThat(Duration.ofNanos(System.nanoTime() - revoked)).isLessThan(Duration.ofSeconds(5));
            // and the key no longer opens anything
            assertThat(SseTestClient.open(CDC.server().http("/v1/events?tables=orders&api_key=" + key)).status()).isEqualTo(401);
        }
    }

    @Test
    void anExpiringKeyIsCutWithin5sAfterExpiryAndNeverBefore() {
        Instant expires = Instant.now().plusSeconds(3);
        String key = Api.postJson(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                  Map.of("name", "brief", "tables", List.of("orders"), "expires_at", expires.toString()))
                .json().get("key").asText();
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), key);
             SseTestClient sse = SseTestClient.subscribed(CDC.server(), key, "orders")) {
            WsTestClient.Close close = ws.closeFuture().orTimeout(15, java.util.concurrent.TimeUnit.SECONDS).join();
            Instant closedAt = Instant.now();
            assertThat(close.code()).isEqualTo(4403);
            assertThat(closedAt).isAfterOrEqualTo(expires).isBefore(expires.plusSeconds(5));
            assertThat(sse.expect("error").json().get("code").asText()).isEqualTo("unauthorized");
            sse.awaitEnd(Duration.ofSeconds(5));
        }
    }

    @Test
    void noKeyEverAppearsInTheLogs() throws Exception {
        String key = Api.createKey(CDC.server(), List.of("orders"));
        String unknown = "cdc_" + "A".repeat(43);
        // keys in every place a client can put one, valid and not
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws?api_key=" + unknown))) {
            ws.closed();
        }
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws"))) {
            ws.send("{\"type\":\"auth\",\"api_key\":\"" + unknown + "\"}");
            ws.closed();
        }
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws?api_key=" + key))) {
            ws.expect("auth_ok");
            ws.send("{\"type\":\"auth\",\"api_key\":\"" + key + "\"}");
            ws.expect("error");
        }
        SseTestClient.open(CDC.server().http("/v1/events?tables=orders&api_key=" + unknown)).close();
        Api.get(CDC.server().http("/v1/state"), unknown);
        Api.get(CDC.server().http("/v1/keys"), key);
        Api.send("POST", CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY, "{\"name\":\"" + key + "\"", "application/json");

        LogstashEncoder encoder = new LogstashEncoder();
        encoder.start();
        List<String> lines = new ArrayList<>();
        for (ILoggingEvent e : List.copyOf(LOGS.lines())) {
            lines.add(new String(encoder.encode(e), java.nio.charset.StandardCharsets.UTF_8));
        }
        assertThat(lines).isNotEmpty();
        assertThat(lines).noneMatch(l -> l.contains(key) || l.contains(unknown) || l.contains(CdcServer.ADMIN_KEY)
                || l.contains(key.substring(4, 20)));
    }
}
