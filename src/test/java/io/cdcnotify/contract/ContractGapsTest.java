package io.cdcnotify.contract;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.contract.Contract.assertErrorBody;
import static io.cdcnotify.contract.Contract.assertNoLeak;
import static io.cdcnotify.contract.Contract.fields;
import static io.cdcnotify.contract.Contract.table;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Contract items the other contract tests did not hold on the wire (docs/api/contract-coverage.md lists them):
 * the outbox's constraints and {@code created_at} default (section 2), the schema and its version table
 * (section 1), a cursor across a restart (section 3), a replayed backlog that does not count against the client
 * buffer (section 1), an SSE stream attached to a subscription that a WebSocket {@code unsubscribe} ends
 * (section 4), a key revoked on one instance closing connections on another (section 6), and 500
 * {@code internal} (section 6).
 */
class ContractGapsTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);

    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();


    // --- section 2: the outbox -------------------------------------------------------------------------------

    @Test
    void tableNameOperationAndPayloadAreRequired() {
        assertRejected("INSERT INTO cdc.outbox (operation, payload) VALUES ('INSERT', '{}')", "23502");
        assertRejected("INSERT INTO cdc.outbox (table_name, payload) VALUES ('orders', '{}')", "23502");
        assertRejected("INSERT INTO cdc.outbox (table_name, operation) VALUES ('orders', 'INSERT')", "23502");
    }

    @Test
    void anOperationOtherThanInsertUpdateOrDeleteIsRejectedByAConstraint() throws SQLException {
        for (String op : List.of("UPSERT", "insert", "TRUNCATE", "", "INSERT ")) {
            assertRejected("INSERT INTO cdc.outbox (table_name, operation, payload) VALUES ('orders', '"
                           + op + "', '{}')", "23514");
        }
        for (String op : List.of("INSERT", "UPDATE", "DELETE")) {
            Outbox.insert(DB, table("ops"), op, "{}");
        }
    }

    @Test
    void aTableNameNoClientCouldSubscribeToIsRejected() throws SQLException {
        for (String name : List.of("my orders", "orders;", "", "t".repeat(129))) {
            assertRejected("INSERT INTO cdc.outbox (table_name, operation, payload) VALUES ('" + name
                           + "', 'INSERT', '{}')", "23514");
        }
        Outbox.insert(DB, "public.Orders_2026", "INSERT", "{}");
        Outbox.insert(DB, "t".repeat(128), "INSERT", "{}");
    }

    @Test
    void aPayloadOneByteOverOneMibIsRejected() {
        // jsonb renders {"data": "…"} with 12 characters around the string
        String over = "{\"data\":\"" + "z".repeat(1_048_576 - 12 + 1) + "\"}";
        assertThatThrownBy(() -> Outbox.insert(DB, "orders", "INSERT", over))
                .isInstanceOf(SQLException.class)
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23514"));
    }

    @Test
    void otherColumnsAreFilledByDefaultsAndCreatedAtIsTheMomentOfTheInsert() throws Exception {
        String t = table("moments");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            ws.subscribe("r1", List.of(t));
            Instant before = Instant.now().minusSeconds(1);
            try (Connection c = Outbox.begin(DB)) {
                Outbox.insert(c, t, "INSERT", "{\"n\":1}");
                try (Statement st = c.createStatement()) {
                    st.execute("SELECT pg_sleep(0.3)");
                }
                Outbox.insert(c, t, "INSERT", "{\"n\":2}");
                c.commit();
            }
            Instant after = Instant.now().plusSeconds(1);
            List<JsonNode> events = ws.events(2, Contract.WAIT);
            Instant first = Instant.parse(events.get(0).get("created_at").asText());
            Instant second = Instant.parse(events.get(1).get("created_at").asText());
            // clock_timestamp(), not now(): two rows of one transaction carry the moments of their INSERTs
            assertThat(Duration.between(first, second)).isGreaterThanOrEqualTo(Duration.ofMillis(300));
            assertThat(first).isBetween(before, after);
            assertThat(second).isBetween(before, after);
        }
    }

    // --- sections 1 and 4: the default frame limit is 64 KiB ------------------------------------------------

    @Test
    void withTheDefaultsAFrameOf64KibIsAcceptedAndOneByteMoreClosesWith1009() {
        String ping = "{\"type\":\"ping\",\"request_id\":\"at-limit\"}";
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            ws.send(ping + " ".repeat(65_536 - ping.length()));
            assertThat(ws.expect("pong").get("request_id").asText()).isEqualTo("at-limit");
            ws.send(ping + " ".repeat(65_536 + 1 - ping.length()));
            assertThat(ws.closed().code()).isEqualTo(1009);
        }
    }

    // --- section 3: the event's fields, at their edges --------------------------------------------------------

    @Test
    void anyJsonValueIsAPayloadAndArrivesAsThatValueOverBothTransports() throws Exception {
        String t = table("values");
        List<String> payloads = List.of("null", "42", "-1.5", "12345678901234567890", "\"text \\u2028 and\\nnewline\"", "true",
                                        "[1, \"two\", null, {\"3\": []}]", "{}", "[]", "\"\"",
                                        "{\"nested\": {\"deep\": [null, false]}}");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY);
             SseTestClient sse = SseTestClient.subscribed(CDC.server(), CdcServer.ADMIN_KEY, t)) {
            ws.subscribe("r1", List.of(t));
            for (String p : payloads) {
                Outbox.insert(DB, t, "INSERT", p);
            }
            List<JsonNode> viaWs = ws.events(payloads.size(), Contract.WAIT);
            List<SseTestClient.Event> viaSse = sse.events(payloads.size(), Contract.WAIT);
            for (int i = 0; i < payloads.size(); i++) {
                JsonNode expected = JSON.readTree(payloads.get(i));
                assertThat(viaWs.get(i).has("payload")).as("payload present: %s", viaWs.get(i)).isTrue();
                assertThat(viaWs.get(i).get("payload")).as(payloads.get(i)).isEqualTo(expected);
                assertThat(viaSse.get(i).data()).doesNotContain("\n");
                assertThat(viaSse.get(i).json().get("payload")).as(payloads.get(i)).isEqualTo(expected);
            }
        }
    }

    @Test
    void createdAtIsWrittenInUtcWithSixDigitsWhateverTheValueAndTheSessionsTimeZone() throws Exception {
        String t = table("stamps");
        Map<String, String> written = new java.util.LinkedHashMap<>();
        written.put("2026-11-24 13:00:00.12+01", "2026-11-24T12:00:00.120000Z");
        written.put("2026-11-24 12:00:00+00", "2026-11-24T12:00:00.000000Z");
        written.put("2026-12-31 23:59:59.999999-05", "2027-01-01T04:59:59.999999Z");
        written.put("2026-06-01 00:00:00.000001+00", "2026-06-01T00:00:00.000001Z");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            ws.subscribe("r1", List.of(t));
            try (Connection c = DB.connect(); Statement tz = c.createStatement()) {
                tz.execute("SET TIME ZONE 'Asia/Kathmandu'");
                for (String at : written.keySet()) {
                    try (PreparedStatement st = c.prepareStatement(
                            "INSERT INTO cdc.outbox (table_name, operation, payload, created_at) "
                            + "VALUES (?, 'INSERT', '{}', ?::timestamptz)")) {
                        st.setString(1, t);
                        st.setString(2, at);
                        st.executeUpdate();
                    }
                }
            }
            assertThat(ws.events(written.size(), Contract.WAIT)).extracting(e -> e.get("created_at").asText())
                    .containsExactlyElementsOf(written.values());
        }
    }

    @Test
    void tableNamesMatchExactlyCaseIncluded() throws Exception {
        String t = table("Orders");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            ws.subscribe("r1", List.of(t));
            Outbox.insert(DB, t.toLowerCase(java.util.Locale.ROOT), "INSERT", "{\"other\":true}");
            Outbox.insert(DB, t.toUpperCase(java.util.Locale.ROOT), "INSERT", "{\"other\":true}");
            long mine = Outbox.insert(DB, t, "INSERT", "{}");
            JsonNode e = ws.events(1, Contract.WAIT).getFirst();
            assertThat(e.get("id").asLong()).isEqualTo(mine);
            assertThat(e.get("table").asText()).isEqualTo(t);
        }
    }

    // --- section 3: liveness with a transaction open ---------------------------------------------------------

    @Test
    void withATransactionOpenEventsCommittedAfterItBeganArriveWithin500Ms() throws Exception {
        String t = table("live");
        String other = table("held");
        int n = 20;
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY);
             Connection open = Outbox.begin(DB);
             Connection writer = DB.connect()) {
            ws.subscribe("r1", List.of(t, other));
            long pending = Outbox.insert(open, other, "INSERT", "{\"open\":true}");
            List<Long> millis = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                long start = System.nanoTime();
                long id = Outbox.insert(writer, t, "INSERT", "{\"i\":" + i + "}");
                assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(id);
                millis.add((System.nanoTime() - start) / 1_000_000);
            }
            List<Long> sorted = millis.stream().sorted().toList();
            // the contract's bound is 500 ms for each; on a shared CI machine the median must meet it and no
            // event may wait for the open transaction (which commits only below)
            assertThat(sorted.get(n / 2)).as("median ms of %s", millis).isLessThan(500);
            assertThat(sorted.getLast()).as("slowest ms of %s", millis).isLessThan(2_000);
            open.commit();
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(pending);
        }
    }

    // --- section 1: the schema --------------------------------------------------------------------------------

    @Test
    void everythingLivesInSchemaCdcAndSoDoesTheMigrationsVersionTable() throws SQLException {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            List<String> outside = new ArrayList<>();
            try (ResultSet rs = st.executeQuery("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                                + "WHERE table_schema NOT IN ('cdc', 'pg_catalog', 'information_schema')")) {
                while (rs.next()) {
                    outside.add(rs.getString(1));
                }
            }
            assertThat(outside).as("tables the service made outside schema cdc").isEmpty();
            // the migrations are versioned and their history table is in cdc
            try (ResultSet rs = st.executeQuery("SELECT count(*), count(*) FILTER (WHERE NOT success) "
                                                + "FROM cdc.schema_history WHERE version IS NOT NULL")) {
                rs.next();
                assertThat(rs.getInt(1)).isGreaterThanOrEqualTo(1);
                assertThat(rs.getInt(2)).isZero();
            }
        }
    }

    // --- section 3: a cursor across a restart -----------------------------------------------------------------

    @Test
    void aCursorResumesAfterARestartOfTheService() throws Exception {
        String t = table("restart");
        String cursor;
        long before;
        try (CdcServer first = CdcServer.start(DB);
             WsTestClient ws = WsTestClient.authenticated(first, CdcServer.ADMIN_KEY)) {
            ws.subscribe("r1", List.of(t));
            before = Outbox.insert(DB, t, "INSERT", "{\"n\":1}");
            cursor = ws.events(1, Contract.WAIT).getFirst().get("cursor").asText();
        }
        long whileDown1 = Outbox.insert(DB, t, "INSERT", "{\"n\":2}");
        long whileDown2 = Outbox.insert(DB, t, "INSERT", "{\"n\":3}");
        try (CdcServer second = CdcServer.start(DB);
             WsTestClient ws = WsTestClient.authenticated(second, CdcServer.ADMIN_KEY);
             SseTestClient sse = SseTestClient.open(second.http("/v1/events?tables=" + t),
                                                    Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY,
                                                           "Last-Event-ID", cursor))) {
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "tables", List.of(t), "resume_from", cursor));
            ws.expect("subscribed");
            assertThat(ws.events(2, Contract.WAIT)).extracting(e -> e.get("id").asLong())
                    .containsExactly(whileDown1, whileDown2).doesNotContain(before);
            assertThat(sse.status()).isEqualTo(200);
            sse.expect("subscribed");
            assertThat(sse.events(2, Contract.WAIT)).extracting(e -> e.json().get("id").asLong())
                    .containsExactly(whileDown1, whileDown2);
        }
    }

    // --- section 1: CDC_CLIENT_BUFFER_EVENTS counts live events only ------------------------------------------

    @Test
    void aBacklogOrQueueLargerThanTheClientBufferIsReplayedAtTheClientsPaceWithoutSlowConsumer() throws Exception {
        String t = table("backlog");
        int buffer = 10;
        int n = 20 * buffer;
        try (CdcServer small = CdcServer.start(DB, Map.of("cdc.limits.client-buffer-events", Integer.toString(buffer)))) {
            String key = Contract.key(small, List.of(t));
            String sid = Contract.createSubscription(small, key, List.of(t));
            long first = Outbox.insert(DB, t, "INSERT", "{\"n\":0}");
            String cursor;
            try (WsTestClient ws = WsTestClient.authenticated(small, key)) {
                ws.subscribe("r0", List.of(t));
                long half = Outbox.insert(DB, t, "INSERT", "{\"n\":0.5}");
                // event `first` may arrive too if the reader had not read it when the client subscribed
                JsonNode received;
                do {
                    received = ws.events(1, Contract.WAIT).getFirst();
                } while (received.get("id").asLong() != half);
                cursor = received.get("cursor").asText();
            }
            List<Long> ids = new ArrayList<>();
            try (Connection c = Outbox.begin(DB)) {
                for (int i = 1; i <= n; i++) {
                    ids.add(Outbox.insert(c, t, "INSERT", "{\"n\":" + i + "}"));
                }
                c.commit();
            }
            // the durable subscription queued all n while detached; the outbox holds them for a resume
            await().atMost(Contract.WAIT).until(() -> Api.get(small.http("/v1/subscriptions/" + sid), key).json()
                    .get("queued").asInt() >= n);
            try (WsTestClient resumed = WsTestClient.authenticated(small, key);
                 WsTestClient attached = WsTestClient.authenticated(small, key);
                 SseTestClient sse = SseTestClient.open(small.http("/v1/events?tables=" + t),
                                                        Map.of("Authorization", "Bearer " + key, "Last-Event-ID", cursor))) {
                resumed.send(Map.of("type", "subscribe", "request_id", "r1", "tables", List.of(t), "resume_from", cursor));
                resumed.expect("subscribed");
                attached.send(Map.of("type", "subscribe", "request_id", "r2", "subscription_id", sid));
                attached.expect("subscribed");
                sse.expect("subscribed");
                assertThat(resumed.events(n, Contract.WAIT)).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(ids);
                List<Long> queued = attached.events(n + 2, Contract.WAIT).stream().map(e -> e.get("id").asLong()).toList();
                assertThat(queued.subList(2, n + 2)).containsExactlyElementsOf(ids);
                assertThat(queued.getFirst()).isEqualTo(first);
                assertThat(sse.events(n, Contract.WAIT)).extracting(e -> e.json().get("id").asLong())
                        .containsExactlyElementsOf(ids);
                // still open and live: no slow_consumer, no close
                long live = Outbox.insert(DB, t, "INSERT", "{\"live\":true}");
                assertThat(resumed.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(live);
                assertThat(attached.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(live);
                assertThat(sse.events(1, Contract.WAIT).getFirst().json().get("id").asLong()).isEqualTo(live);
                assertThat(resumed.closeFuture()).isNotDone();
                assertThat(attached.closeFuture()).isNotDone();
                assertThat(sse.ended()).isFalse();
            }
        }
    }

    // --- section 4: unsubscribe ends an attached SSE stream ---------------------------------------------------

    @Test
    void aWebSocketUnsubscribeEndsAnAttachedSseStreamWithErrorNotFoundWithinFiveSeconds() throws Exception {
        String t = table("shared");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CdcServer.ADMIN_KEY)) {
            String sid = ws.subscribe("r1", List.of(t)).get("subscription_id").asText();
            try (SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?subscription_id=" + sid),
                                                        Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY))) {
                assertThat(sse.status()).isEqualTo(200);
                sse.expect("subscribed");
                long id = Outbox.insert(DB, t, "INSERT", "{}");
                assertThat(sse.events(1, Contract.WAIT).getFirst().json().get("id").asLong()).isEqualTo(id);
                ws.events(1, Contract.WAIT);

                ws.send(Map.of("type", "unsubscribe", "request_id", "r2", "subscription_id", sid));
                JsonNode unsubscribed = ws.expect("unsubscribed");
                assertThat(unsubscribed.get("request_id").asText()).isEqualTo("r2");
                long deadline = System.nanoTime() + FIVE_SECONDS.toNanos();
                SseTestClient.Event error = sse.expect("error");
                assertThat(fields(error.json())).isEqualTo(Set.of("code", "message"));
                assertThat(error.json().get("code").asText()).isEqualTo("not_found");
                sse.awaitEnd(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            }
        }
    }

    // --- section 6: DELETE /v1/keys/{id} acts on every instance -----------------------------------------------

    @Test
    void deletingAKeyOnOneInstanceClosesItsConnectionsOnAnotherWithinFiveSeconds() {
        JsonNode created = Contract.createKey(CDC.server(), Map.of("name", "elsewhere", "tables", List.of("orders")));
        String key = created.get("key").asText();
        try (CdcServer other = CdcServer.start(DB);
             WsTestClient ws = WsTestClient.authenticated(other, key);
             SseTestClient sse = SseTestClient.subscribed(other, key, "orders")) {
            assertThat(Api.delete(CDC.server().http("/v1/keys/" + created.get("id").asText()), CdcServer.ADMIN_KEY).status())
                    .isEqualTo(204);
            long deleted = System.nanoTime();
            assertThat(ws.closeFuture()).succeedsWithin(FIVE_SECONDS.plusSeconds(1))
                    .satisfies(close -> assertThat(close.code()).isEqualTo(4403));
            SseTestClient.Event error = sse.expect("error");
            assertThat(error.json().get("code").asText()).isEqualTo("unauthorized");
            sse.awaitEnd(FIVE_SECONDS);
            assertThat(Duration.ofNanos(System.nanoTime() - deleted)).isLessThan(FIVE_SECONDS.plusSeconds(1));
            // and the other instance refuses the key within the same bound (it trusts a validation for 2 s)
            await().atMost(FIVE_SECONDS.minusNanos(System.nanoTime() - deleted).plusSeconds(1))
                    .until(() -> Api.get(other.http("/v1/state"), key).status() == 401);
        }
    }

    // --- section 6: 500 internal ------------------------------------------------------------------------------

    @Test
    void aFailureInsideTheServiceIs500InternalWithTheContractBodyAndNoDetail() throws SQLException {
        try (CdcServer own = CdcServer.start(DB)) {
            rename("api_keys", "api_keys_away");
            try {
                Api.Response r = Api.get(own.http("/v1/keys"), CdcServer.ADMIN_KEY);
                assertErrorBody(r, 500, "internal");
                assertNoLeak(r.body(), CdcServer.ADMIN_KEY);
                assertThat(r.body()).doesNotContain("api_keys").doesNotContain("SQL").doesNotContain("relation");
            } finally {
                rename("api_keys_away", "api_keys");
            }
            assertThat(Api.get(own.http("/v1/keys"), CdcServer.ADMIN_KEY).status()).isEqualTo(200);
        }
    }

    private static void rename(String from, String to) throws SQLException {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("ALTER TABLE cdc." + from + " RENAME TO " + to);
        }
    }

    private static void assertRejected(String sql, String sqlState) {
        assertThatThrownBy(() -> {
            try (Connection c = DB.connect(); PreparedStatement st = c.prepareStatement(sql)) {
                st.executeUpdate();
            }
        }).as(sql).isInstanceOf(SQLException.class)
                .satisfies(e -> assertThat(((SQLException) e).getSQLState()).as(sql).isEqualTo(sqlState));
    }
}
