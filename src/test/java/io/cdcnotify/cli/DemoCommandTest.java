package io.cdcnotify.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.TestAccess;
import io.cdcnotify.config.Settings;
import io.cdcnotify.testing.Listener;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import io.helidon.config.Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The demo command's service, key and writer, run for a few seconds against a database of its own. */
class DemoCommandTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static Config config() {
        return Settings.load(Map.of("DB_URL", DB.url(), "DB_USER", DB.user(), "DB_PASSWORD", DB.password(),
                                    "SERVER_PORT", "0", "SERVER_HOST", "127.0.0.1"));
    }

    @Test
    void demoChangesReachSseAndWebSocketClientsWithItsKey() throws Exception {
        try (Factory factory = TestAccess.factory(config());
             DemoCommand.Running demo = DemoCommand.start(factory, Duration.ofMillis(50))) {
            URI console = demo.consoleUrl();
            assertThat(console.toString())
                    .isEqualTo("http://127.0.0.1:" + demo.port() + "/#key=" + demo.key() + "&tables=public.cdc_demo_orders");
            assertThat(demo.key()).startsWith("cdc_");

            URI events = URI.create(demo.url() + "v1/events?tables=public.cdc_demo_orders");
            try (SseTestClient sse = SseTestClient.open(events, Map.of("Authorization", "Bearer " + demo.key()));
                 WsTestClient ws = WsTestClient.connect(URI.create("ws://127.0.0.1:" + demo.port() + "/v1/ws"),
                                                        Map.of("Authorization", "Bearer " + demo.key()))) {
                assertThat(sse.status()).isEqualTo(200);
                sse.expect("subscribed");
                ws.expect("auth_ok");
                ws.subscribe("r1", List.of("public.cdc_demo_orders"));

                Set<String> operations = new HashSet<>();
                Set<String> sseIds = new HashSet<>();
                for (SseTestClient.Event e : sse.events(60, Duration.ofSeconds(20))) {
                    JsonNode event = e.json();
                    assertThat(event.get("table").asText()).isEqualTo("public.cdc_demo_orders");
                    // a captured table's event: the row after ("new") and before ("old") the change, and its key
                    String operation = event.get("operation").asText();
                    JsonNode payload = event.get("payload");
                    assertThat(payload.has("new")).as(payload.toString()).isEqualTo(!operation.equals("DELETE"));
                    assertThat(payload.has("old")).as(payload.toString()).isEqualTo(!operation.equals("INSERT"));
                    for (String image : List.of("new", "old")) {
                        JsonNode order = payload.get(image);
                        if (order == null) {
                            continue;
                        }
                        assertThat(order.get("id").canConvertToLong()).isTrue();
                        assertThat(payload.at("/key/id")).isEqualTo(order.get("id"));
                        assertThat(order.get("customer").asText()).isNotBlank();
                        assertThat(order.get("status").asText())
                                .isIn("pending", "paid", "packed", "shipped", "delivered", "cancelled");
                        assertThat(order.get("items").isArray()).isTrue();
                        assertThat(order.get("currency").asText()).isEqualTo("EUR");
                    }
                    if (operation.equals("UPDATE")) {
                        assertThat(payload.at("/old/status").asText() + " -> " + payload.at("/new/status").asText())
                                .isIn("pending -> paid", "paid -> packed", "packed -> shipped", "shipped -> delivered",
                                      "pending -> cancelled");
                    }
                    operations.add(operation);
                    sseIds.add(event.get("id").asText());
                }
                // The first change of an empty shop is an order; updates follow it soon after.
                assertThat(operations).contains("INSERT", "UPDATE");

                Set<String> wsIds = new HashSet<>();
                while (wsIds.size() < 20) {
                    JsonNode m = ws.until(x -> "cdc_event".equals(x.path("type").asText()), Duration.ofSeconds(10));
                    wsIds.add(m.get("event").get("id").asText());
                }
                assertThat(sseIds).containsAll(wsIds.stream().filter(id -> Long.parseLong(id) <= maxId(sseIds))
                                                       .toList());
            }
            // The key reads the demo table and nothing else.
            try (SseTestClient other = SseTestClient.open(URI.create(demo.url() + "v1/events?tables=orders"),
                                                          Map.of("Authorization", "Bearer " + demo.key()))) {
                assertThat(other.status()).isEqualTo(403);
            }
            assertThat(demo.changes()).isGreaterThanOrEqualTo(60);
        }
        // The table is captured, so each change made its event in its transaction; the key went with the demo.
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            assertThat(count(st, "SELECT count(*) FROM cdc.api_keys WHERE name = 'cdc-notify-demo'")).isZero();
            assertThat(count(st, "SELECT count(*) FROM cdc.captures WHERE table_name = 'public.cdc_demo_orders' "
                                 + "AND relation = 'public.cdc_demo_orders'::regclass")).isOne();
            assertThat(count(st, "SELECT count(*) FROM cdc.outbox WHERE table_name = 'public.cdc_demo_orders' "
                                 + "AND operation = 'INSERT'"))
                    .isEqualTo(count(st, "SELECT coalesce(max(id), 0) FROM public.cdc_demo_orders"));
            assertThat(count(st, "SELECT count(*) FROM public.cdc_demo_orders o WHERE NOT EXISTS (SELECT 1 FROM "
                                 + "cdc.outbox x WHERE x.table_name = 'public.cdc_demo_orders' "
                                 + "AND x.operation <> 'DELETE' AND x.payload -> 'new' = to_jsonb(o))"))
                    .as("every order's current state is in the outbox")
                    .isZero();
        }
    }

    @Test
    void aSecondDemoRevokesTheKeyOfOneThatWasKilled() throws SQLException {
        Factory killed = TestAccess.factory(config());
        DemoCommand.Running first = DemoCommand.start(killed, Duration.ofSeconds(1));
        try (Factory factory = TestAccess.factory(config());
             DemoCommand.Running second = DemoCommand.start(factory, Duration.ofSeconds(1));
             Connection c = DB.connect(); Statement st = c.createStatement()) {
            assertThat(count(st, "SELECT count(*) FROM cdc.api_keys WHERE name = 'cdc-notify-demo'")).isOne();
            assertThat(second.key()).isNotEqualTo(first.key());
        } finally {
            first.close();
            killed.close();
        }
    }

    @Test
    void aPortInUseIsAnErrorThatLeavesNothingRunning() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Config config = Settings.load(Map.of("DB_URL", DB.url(), "DB_USER", DB.user(), "DB_PASSWORD",
                                                 DB.password(), "SERVER_PORT", String.valueOf(taken.getLocalPort()),
                                                 "SERVER_HOST", "127.0.0.1"));
            try (Factory factory = TestAccess.factory(config)) {
                assertThatThrownBy(() -> DemoCommand.start(factory, Duration.ofMillis(100)))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("port " + taken.getLocalPort() + " in use");
                // the service's listener stops with the failed start, not only with the factory
                await().atMost(Duration.ofSeconds(10)).until(() -> Listener.pid(DB) == 0);
            }
        }
    }

    @Test
    void badOptionsAreUsageErrors() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream errStream = new PrintStream(err, true, StandardCharsets.UTF_8);
        PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertThat(TestAccess.run(config(), out, errStream, "demo", "--bogus")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("Unknown option: '--bogus'", "demo --help");
        err.reset();
        assertThat(TestAccess.run(config(), out, errStream, "demo", "--interval-ms", "fast")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--interval-ms", "'fast'");
        err.reset();
        assertThat(TestAccess.run(config(), out, errStream, "demo", "--interval-ms", "1")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--interval-ms must be", "at least 10");
    }

    private static long maxId(Set<String> ids) {
        return ids.stream().mapToLong(Long::parseLong).max().orElse(0);
    }

    private static long count(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
