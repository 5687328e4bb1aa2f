package io.cdcnotify.fanout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** What relay mode does when NATS is missing, restarts, or is cut off from one instance: each on a NATS of its own. */
class NatsFailureTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void natsDownAtStartRefusesToStartWithAClearMessage() throws Exception {
        RelayFixture nowhere = new RelayFixture(unusedUrl(), NatsFailureTest.class);
        assertThatThrownBy(() -> CdcServer.start(DB, nowhere.keys()))
                .hasMessageContaining("relay mode needs NATS JetStream at " + nowhere.url)
                .hasMessageContaining("CDC_FANOUT=database");
    }

    @Test
    void natsDownAtStartFallsBackToDatabaseModeWhenConfigured() throws Exception {
        RelayFixture nowhere = new RelayFixture(unusedUrl(), NatsFailureTest.class);
        Map<String, String> keys = new HashMap<>(nowhere.keys());
        keys.put("cdc.fanout.fallback", "database");
        try (CdcServer server = CdcServer.start(DB, keys)) {
            assertThat(RelayFixture.fanout(server).get("mode").asText()).isEqualTo("database");
            String key = Api.createKey(server, List.of("fallback"));
            try (WsTestClient client = WsTestClient.authenticated(server, key)) {
                client.subscribe("r", List.of("fallback"));
                long id = Outbox.insert(DB, "fallback", "INSERT", "{}");
                assertThat(client.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(id);
            }
        }
    }

    @Test
    void aNatsRestartMidStreamLosesAndRepeatsNothing() throws Exception {
        try (NatsServer nats = NatsServer.start()) {
            RelayFixture relay = new RelayFixture(nats.url(), NatsFailureTest.class);
            Map<String, String> keys = new HashMap<>(relay.keys());
            keys.put("cdc.fanout.partition-close-seconds", "60"); // the restart must not close anybody
            try (CdcServer a = CdcServer.start(DB, keys); CdcServer b = CdcServer.start(DB, keys);
                 java.sql.Connection writer = DB.connect()) {
                String key = Api.createKey(a, List.of("restart"));
                await().atMost(Duration.ofSeconds(10)).until(() -> RelayFixture.leads(a) || RelayFixture.leads(b));
                try (WsTestClient onA = WsTestClient.authenticated(a, key); WsTestClient onB = WsTestClient.authenticated(b, key)) {
                    onA.subscribe("r", List.of("restart"));
                    onB.subscribe("r", List.of("restart"));
                    List<Long> written = new ArrayList<>();
                    for (int i = 0; i < 300; i++) {
                        written.add(Outbox.insert(writer, "restart", "INSERT", "{\"n\":" + i + "}"));
                        if (i == 100) {
                            nats.stop();
                        }
                        if (i == 200) {
                            nats.startAgain();
                        }
                        if (i > 100 && i < 200) {
                            Thread.sleep(10); // the server stays down about a second while writes go on
                        }
                    }
                    assertThat(onA.events(300, Duration.ofSeconds(30))).extracting(e -> e.get("id").asLong())
                            .containsExactlyElementsOf(written);
                    assertThat(onB.events(300, Duration.ofSeconds(30))).extracting(e -> e.get("id").asLong())
                            .containsExactlyElementsOf(written);
                    await().atMost(Duration.ofSeconds(10)).until(() -> Api.get(a.http("/health"), null).status() == 200
                            && Api.get(b.http("/health"), null).status() == 200);
                    long after = Outbox.insert(DB, "restart", "INSERT", "{\"after\":true}");
                    assertThat(onA.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(after);
                    assertThat(onB.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(after);
                    assertThat(onA.drain()).isEmpty();
                    assertThat(onB.drain()).isEmpty();
                }
            }
        }
    }

    @Test
    void aFollowerCutOffFromNatsSaysSoClosesItsClientsWithTheirCursorsAndCatchesUp() throws Exception {
        try (NatsServer nats = NatsServer.start(); CuttableProxy proxy = new CuttableProxy(nats.port())) {
            RelayFixture relay = new RelayFixture(nats.url(), NatsFailureTest.class);
            Map<String, String> viaProxy = new HashMap<>(relay.keys());
            viaProxy.put("cdc.fanout.nats-url", proxy.url());
            try (CdcServer a = CdcServer.start(DB, relay.keys())) {
                await().atMost(Duration.ofSeconds(10)).until(() -> RelayFixture.leads(a));
                try (CdcServer b = CdcServer.start(DB, viaProxy)) {
                    String key = Api.createKey(a, List.of("cut"));
                    try (WsTestClient onA = WsTestClient.authenticated(a, key); WsTestClient onB = WsTestClient.authenticated(b, key)) {
                        onA.subscribe("r", List.of("cut"));
                        onB.subscribe("r", List.of("cut"));
                        List<Long> written = new ArrayList<>();
                        for (int i = 0; i < 5; i++) {
                            written.add(Outbox.insert(DB, "cut", "INSERT", "{\"n\":" + i + "}"));
                        }
                        List<JsonNode> beforeCut = onB.events(5, Duration.ofSeconds(10));
                        assertThat(onA.events(5, Duration.ofSeconds(10))).hasSize(5);

                        // a short cut: b says DOWN, then catches up from the stream, nothing lost
                        proxy.cut();
                        await().atMost(Duration.ofSeconds(5)).until(() -> Api.get(b.http("/health"), null).status() == 503);
                        written.add(Outbox.insert(DB, "cut", "INSERT", "{\"n\":5}"));
                        proxy.heal();
                        assertThat(onB.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(written.get(5));
                        await().atMost(Duration.ofSeconds(10)).until(() -> Api.get(b.http("/health"), null).status() == 200);

                        // a long cut: b's clients are closed with the cursor of the last event they got
                        proxy.cut();
                        await().atMost(Duration.ofSeconds(5)).until(() -> Api.get(b.http("/health"), null).status() == 503);
                        for (int i = 6; i < 10; i++) {
                            written.add(Outbox.insert(DB, "cut", "INSERT", "{\"n\":" + i + "}"));
                        }
                        assertThat(onA.events(5, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong())
                                .containsExactlyElementsOf(written.subList(5, 10));
                        WsTestClient.Close close = onB.closeFuture().get(15, java.util.concurrent.TimeUnit.SECONDS);
                        assertThat(close.code()).isEqualTo(1001);
                        String cursor = close.reason();
                        assertThat(cursor).isNotBlank();
                        proxy.heal();
                        await().atMost(Duration.ofSeconds(10)).until(() -> Api.get(b.http("/health"), null).status() == 200);
                        try (WsTestClient again = WsTestClient.authenticated(b, key)) {
                            again.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("cut"),
                                              "resume_from", cursor));
                            again.expect("subscribed");
                            written.add(Outbox.insert(DB, "cut", "INSERT", "{\"n\":10}"));
                            assertThat(again.events(5, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong())
                                    .containsExactlyElementsOf(written.subList(6, 11));
                        }
                        assertThat(beforeCut).hasSize(5);
                    }
                }
            }
        }
    }

    private static String unusedUrl() throws java.io.IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return "nats://127.0.0.1:" + s.getLocalPort();
        }
    }
}
