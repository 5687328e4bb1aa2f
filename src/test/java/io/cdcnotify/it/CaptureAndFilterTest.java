package io.cdcnotify.it;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** Capturing a table's changes with cdc.capture, and filtering subscriptions by operation and payload fields. */
class CaptureAndFilterTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    @BeforeAll
    static void tables() throws Exception {
        CDC.sql("""
                    CREATE TABLE public.accounts (
                        id        integer PRIMARY KEY,
                        name      text,
                        balance   numeric(12, 2),
                        active    boolean,
                        opened    timestamptz,
                        tags      text[],
                        profile   jsonb,
                        avatar    bytea,
                        ref       uuid,
                        password  text)""", "CREATE TABLE public.plain (n integer)");
    }

    @Test
    void aCapturedTableDeliversOldAndNewImagesWithoutExcludedColumns() throws Exception {
        Api.Response made = Api.postJson(CDC.server().http("/v1/captures"), CdcServer.ADMIN_KEY,
                                         Map.of("table", "public.accounts", "exclude_columns", List.of("password")));
        assertThat(made.status()).as(made.body()).isEqualTo(201);
        assertThat(made.json().get("table").asText()).isEqualTo("public.accounts");
        assertThat(made.json().get("current_table").asText()).isEqualTo("public.accounts");
        assertThat(Api.get(CDC.server().http("/v1/captures"), CdcServer.ADMIN_KEY).json().get(0).get("exclude_columns").get(0).asText())
                .isEqualTo("password");

        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY);
             Connection c = DB.connect(); Statement st = c.createStatement()) {
            ws.subscribe("r", List.of("public.accounts"));
            st.execute("""
                    INSERT INTO accounts VALUES (7, 'Ada', 12.50, true, '2026-01-02T03:04:05Z', '{a,b}',
                                                 '{"tier": "gold"}', '\\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 's3cret')""");
            st.execute("UPDATE accounts SET balance = 20, name = 'Ada L.' WHERE id = 7");
            st.execute("DELETE FROM accounts WHERE id = 7");

            List<JsonNode> events = ws.events(3, Duration.ofSeconds(10));
            JsonNode insert = events.get(0);
            assertThat(insert.get("table").asText()).isEqualTo("public.accounts");
            assertThat(insert.get("operation").asText()).isEqualTo("INSERT");
            JsonNode row = insert.at("/payload/new");
            assertThat(row.get("id").asInt()).isEqualTo(7);
            assertThat(row.get("balance").decimalValue()).isEqualByComparingTo("12.50");
            assertThat(row.get("active").asBoolean()).isTrue();
            assertThat(row.get("opened").asText()).startsWith("2026-01-02T03:04:05");
            assertThat(row.get("tags").get(1).asText()).isEqualTo("b");
            assertThat(row.get("profile").get("tier").asText()).isEqualTo("gold");
            assertThat(row.get("avatar").asText()).isEqualTo("\\x0102");
            assertThat(row.get("ref").asText()).isEqualTo("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
            assertThat(row.has("password")).isFalse();
            assertThat(insert.at("/payload").has("old")).isFalse();
            assertThat(row.size()).as("every column but the excluded one, NULL ones too").isEqualTo(9);
            assertThat(insert.at("/payload/key/id").asInt()).isEqualTo(7);

            JsonNode update = events.get(1);
            assertThat(update.get("operation").asText()).isEqualTo("UPDATE");
            assertThat(update.at("/payload/old/name").asText()).isEqualTo("Ada");
            assertThat(update.at("/payload/new/name").asText()).isEqualTo("Ada L.");
            assertThat(update.at("/payload/new/balance").decimalValue()).isEqualByComparingTo("20");
            assertThat(update.at("/payload/old").has("password")).isFalse();

            JsonNode delete = events.get(2);
            assertThat(delete.get("operation").asText()).isEqualTo("DELETE");
            assertThat(delete.at("/payload/old/name").asText()).isEqualTo("Ada L.");
            assertThat(delete.at("/payload").has("new")).isFalse();
            assertThat(delete.at("/payload/key/id").asInt()).isEqualTo(7);

            // renamed: its events keep their name, and the capture shows both names
            st.execute("ALTER TABLE accounts RENAME TO \"accounts (2026)\"");
            st.execute("INSERT INTO \"accounts (2026)\" (id, name, profile) VALUES (9, NULL, '{\"a\": null}')");
            JsonNode renamed = ws.events(1, Duration.ofSeconds(10)).getFirst();
            assertThat(renamed.get("table").asText()).isEqualTo("public.accounts");
            assertThat(renamed.at("/payload/new/name").isNull()).isTrue();
            assertThat(renamed.at("/payload/new/profile/a").isNull()).isTrue();
            JsonNode listed = Api.get(CDC.server().http("/v1/captures"), CdcServer.ADMIN_KEY).json().get(0);
            assertThat(listed.get("table").asText()).isEqualTo("public.accounts");
            assertThat(listed.get("current_table").asText()).isEqualTo("public.\"accounts (2026)\"");

            // released by the captured name: no more events
            assertThat(Api.delete(CDC.server().http("/v1/captures/public.accounts"), CdcServer.ADMIN_KEY).status()).isEqualTo(204);
            assertThat(Api.delete(CDC.server().http("/v1/captures/public.accounts"), CdcServer.ADMIN_KEY).status()).isEqualTo(404);
            st.execute("INSERT INTO \"accounts (2026)\" (id, name) VALUES (8, 'after release')");
            long marker = CDC.insert("public.accounts", "INSERT", "{\"marker\":true}");
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(marker);
        }
    }

    @Test
    void capturingSomethingThatIsNotACapturableTableIsRefused() {
        assertThat(Api.postJson(CDC.server().http("/v1/captures"), CdcServer.ADMIN_KEY, Map.of("table", "public.nope"))
                           .status()).isEqualTo(404);
        assertThat(Api.postJson(CDC.server().http("/v1/captures"), CdcServer.ADMIN_KEY, Map.of("table", "bad name"))
                           .json().get("code").asText()).isEqualTo("bad_request");
        assertThat(Api.postJson(CDC.server().http("/v1/captures"), CdcServer.ADMIN_KEY, Map.of("table", "cdc.outbox"))
                           .status()).isEqualTo(400);
        String reader = Api.createKey(CDC.server(), List.of("public.plain"));
        assertThat(Api.postJson(CDC.server().http("/v1/captures"), reader, Map.of("table", "public.plain")).status())
                .isEqualTo(403);
    }

    @Test
    void filtersDeliverExactlyTheMatchingEventsOverBothTransports() throws Exception {
        Map<String, Object> subscribe = Map.of("type", "subscribe", "request_id", "f", "tables", List.of("orders_f"),
                                               "operations", List.of("INSERT", "UPDATE"),
                                               "filter", Map.of("status", Map.of("in", List.of("paid", "shipped")),
                                                                "amount", Map.of("eq", 10)));
        String sseFilter = URLEncoder.encode("{\"status\":{\"in\":[\"paid\",\"shipped\"]},\"amount\":10}", StandardCharsets.UTF_8);
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY);
             SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?tables=orders_f&operations=INSERT,UPDATE&filter=" + sseFilter),
                                                    Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY))) {
            ws.send(subscribe);
            ws.expect("subscribed");
            sse.expect("subscribed");
            CDC.insert("orders_f", "INSERT", "{\"status\":\"new\",\"amount\":10}");
            long a = CDC.insert("orders_f", "INSERT", "{\"status\":\"paid\",\"amount\":10}");
            CDC.insert("orders_f", "DELETE", "{\"status\":\"paid\",\"amount\":10}");
            CDC.insert("orders_f", "UPDATE", "{\"status\":\"shipped\",\"amount\":11}");
            long b = CDC.insert("orders_f", "UPDATE", "{\"status\":\"shipped\",\"amount\":10.0}");
            CDC.insert("orders_f", "INSERT", "{\"amount\":10}");
            long c = CDC.insert("orders_f", "INSERT", "{\"status\":\"paid\",\"amount\":10,\"last\":true}");
            assertThat(ws.events(3, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong()).containsExactly(a, b, c);
            assertThat(sse.events(3, Duration.ofSeconds(10))).extracting(e -> e.json().get("id").asLong())
                    .containsExactly(a, b, c);
        }
    }

    @Test
    void aDurableFilteredSubscriptionKeepsItsFilterAcrossAResume() throws Exception {
        Api.Response made = Api.postJson(CDC.server().http("/v1/subscriptions"), CdcServer.ADMIN_KEY,
                                         Map.of("tables", List.of("orders_d"), "filter", Map.of("new.region", "eu")));
        assertThat(made.status()).as(made.body()).isEqualTo(201);
        String id = made.json().get("id").asText();
        CDC.insert("orders_d", "INSERT", "{\"new\":{\"region\":\"us\"}}");
        long eu = CDC.insert("orders_d", "INSERT", "{\"new\":{\"region\":\"eu\"}}");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            ws.send(Map.of("type", "subscribe", "request_id", "d", "subscription_id", id));
            ws.expect("subscribed");
            JsonNode first = ws.events(1, Duration.ofSeconds(10)).getFirst();
            assertThat(first.get("id").asLong()).isEqualTo(eu);
            CDC.insert("orders_d", "INSERT", "{\"new\":{\"region\":\"us\"}}");
            long eu2 = CDC.insert("orders_d", "INSERT", "{\"new\":{\"region\":\"eu\"}}");
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(eu2);
            // a resume from the outbox applies the filter too
            try (WsTestClient again = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
                again.send(Map.of("type", "subscribe", "request_id", "r", "subscription_id", id,
                                  "resume_from", first.get("cursor").asText()));
                again.expect("subscribed");
                assertThat(again.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(eu2);
            }
        }
    }

    @Test
    void invalidFiltersAreRefusedWithAMessageThatSaysWhy() {
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            ws.send(Map.of("type", "subscribe", "request_id", "x", "tables", List.of("t"), "operations", List.of("UPSERT")));
            JsonNode e1 = ws.expect("error");
            assertThat(e1.get("code").asText()).isEqualTo("bad_request");
            assertThat(e1.get("message").asText()).contains("operations");
            ws.send(Map.of("type", "subscribe", "request_id", "y", "tables", List.of("t"),
                           "filter", Map.of("status", Map.of("like", "p%"))));
            JsonNode e2 = ws.expect("error");
            assertThat(e2.get("message").asText()).contains("status").contains("in");
            ws.send(Map.of("type", "subscribe", "request_id", "z", "tables", List.of("t"), "filter", List.of(1)));
            assertThat(ws.expect("error").get("message").asText()).contains("filter must be an object");
        }
        SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?tables=t&filter=%7Bnope"),
                                               Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY));
        assertThat(sse.status()).isEqualTo(400);
        assertThat(Api.postJson(CDC.server().http("/v1/subscriptions"), CdcServer.ADMIN_KEY,
                                Map.of("tables", List.of("t"), "filter", Map.of("a", Map.of("in", List.of()))))
                           .status()).isEqualTo(400);
    }
}
