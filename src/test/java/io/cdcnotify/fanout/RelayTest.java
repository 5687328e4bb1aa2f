package io.cdcnotify.fanout;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Relay mode on the shared NATS server: one reader, every instance delivers, the stream is what clients get. */
class RelayTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final RelayFixture NATS = new RelayFixture(RelayFixture.SHARED_NATS, RelayTest.class);
    private static CdcServer a;
    private static CdcServer b;
    private static String key;

    @BeforeAll
    static void start() {
        a = CdcServer.start(DB, NATS.keys());
        b = CdcServer.start(DB, NATS.keys());
        key = Api.createKey(a, List.of("orders", "public.items", "resumed"));
        await().atMost(Duration.ofSeconds(10)).until(() -> RelayFixture.leads(a) ^ RelayFixture.leads(b));
    }

    @AfterAll
    static void stop() {
        a.close();
        b.close();
        NATS.deleteStream();
    }

    @Test
    void everyInstanceDeliversEveryEventWhileOnlyTheLeaderReadsTheOutbox() throws Exception {
        try (WsTestClient onA = WsTestClient.authenticated(a, key);
             WsTestClient onB = WsTestClient.authenticated(b, key);
             SseTestClient sseOnB = SseTestClient.subscribed(b, key, "orders,public.items")) {
            onA.subscribe("r", List.of("orders", "public.items"));
            onB.subscribe("r", List.of("orders", "public.items"));
            List<Long> written = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                written.add(Outbox.insert(DB, i % 2 == 0 ? "orders" : "public.items", "INSERT",
                                          "{\"n\": " + i + ", \"s\": \"a \\\"quoted\\\" text\", \"nested\": {\"x\": [1, null]}}"));
            }
            try (Connection tx = Outbox.begin(DB)) {
                for (int i = 20; i < 30; i++) {
                    written.add(Outbox.insert(tx, "orders", "UPDATE", "{\"n\": " + i + "}"));
                }
                tx.commit();
            }
            List<JsonNode> gotA = onA.events(30, Duration.ofSeconds(10));
            List<JsonNode> gotB = onB.events(30, Duration.ofSeconds(10));
            assertThat(gotA).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(written);
            assertThat(gotB).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(written);
            // the same JSON everywhere, payload as PostgreSQL rendered it
            assertThat(gotA.stream().map(JsonNode::toString).toList())
                    .containsExactlyElementsOf(gotB.stream().map(JsonNode::toString).toList());
            assertThat(gotA.getFirst().get("payload").get("s").asText()).isEqualTo("a \"quoted\" text");
            assertThat(sseOnB.events(30, Duration.ofSeconds(10))).extracting(e -> e.json().get("id").asLong())
                    .containsExactlyElementsOf(written);
            assertThat(sessions("cdc-notify-listener")).isEqualTo(1);
            assertThat(sessions("cdc-notify-leader")).isEqualTo(1);
        }
    }

    @Test
    void theLeaderDoesNotConsumeWhatItPublishesOnlyTheFollowerDoes() throws Exception {
        Outbox.insert(DB, "orders", "INSERT", "{\"consumers\": 1}");
        // the leader's own consumer stops once it has fed what the publisher stored; the stream's server drops
        // an ordered consumer some seconds after its client stopped it
        await().atMost(Duration.ofSeconds(30)).until(() -> NATS.consumers() == 1);
        try (WsTestClient onLeader = WsTestClient.authenticated(RelayFixture.leads(a) ? a : b, key)) {
            onLeader.subscribe("c", List.of("orders"));
            long id = Outbox.insert(DB, "orders", "INSERT", "{\"consumers\": 2}");
            assertThat(onLeader.events(1, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong()).containsExactly(id);
        }
        assertThat(NATS.consumers()).isEqualTo(1);
    }

    @Test
    void stateShowsTheModeTheLeaderAndTheStreamPosition() throws Exception {
        Outbox.insert(DB, "orders", "INSERT", "{}");
        long last = await().atMost(Duration.ofSeconds(10)).until(NATS::lastSequence, n -> n > 0);
        for (CdcServer s : List.of(a, b)) {
            await().atMost(Duration.ofSeconds(5)).until(() -> RelayFixture.fanout(s).get("consumed_sequence").asLong() >= last);
            JsonNode f = RelayFixture.fanout(s);
            assertThat(f.get("mode").asText()).isEqualTo("nats");
            assertThat(f.get("stream").asText()).isEqualTo(NATS.stream);
            assertThat(f.get("stream_sequence").asLong()).isGreaterThanOrEqualTo(last);
        }
        assertThat(Stream.of(a, b).filter(RelayFixture::leads).count()).isEqualTo(1);
        assertThat(Api.get(a.http("/health"), null).status()).isEqualTo(200);
        assertThat(Api.get(b.http("/health"), null).status()).isEqualTo(200);
    }

    @Test
    void aResumeReadsTheOutboxAndJoinsTheRelayedStreamWithoutGapOrRepeat() throws Exception {
        String cursor;
        try (WsTestClient first = WsTestClient.authenticated(a, key)) {
            first.subscribe("r", List.of("resumed"));
            Outbox.insert(DB, "resumed", "INSERT", "{\"n\":0}");
            cursor = first.events(1, Duration.ofSeconds(10)).getFirst().get("cursor").asText();
        }
        List<Long> missed = new ArrayList<>();
        for (int i = 1; i <= 10; i++) {
            missed.add(Outbox.insert(DB, "resumed", "INSERT", "{\"n\":" + i + "}"));
        }
        try (WsTestClient again = WsTestClient.authenticated(b, key)) {
            again.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("resumed"), "resume_from", cursor));
            again.expect("subscribed");
            missed.add(Outbox.insert(DB, "resumed", "INSERT", "{\"n\":11}"));
            assertThat(again.events(11, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong())
                    .containsExactlyElementsOf(missed);
            assertThat(again.drain()).isEmpty();
        }
    }

    @Test
    void theFanoutMetersShowLeadershipWhatWasPublishedAndTheLag() throws Exception {
        Outbox.insert(DB, "orders", "INSERT", "{\"metered\": true}");
        long last = await().atMost(Duration.ofSeconds(10)).until(NATS::lastSequence, n -> n > 0);
        // the meters of the instance started last are the ones /metrics shows (one registry per JVM)
        await().atMost(Duration.ofSeconds(5)).until(() -> metric("cdc_fanout_consumer_lag_messages") == 0
                && RelayFixture.fanout(b).get("consumed_sequence").asLong() >= last);
        boolean bLeads = RelayFixture.leads(b);
        assertThat(metric("cdc_fanout_leader")).isEqualTo(bLeads ? 1 : 0);
        if (bLeads) {
            assertThat(metric("cdc_fanout_published_total")).isGreaterThanOrEqualTo(1);
        } else {
            assertThat(metric("cdc_fanout_published_total")).isZero();
        }
    }

    private static double metric(String name) {
        String text = Api.get(b.http("/metrics"), null).body();
        return text.lines().filter(l -> l.startsWith(name + "{") || l.startsWith(name + " "))
                .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                .findFirst().orElseThrow(() -> new AssertionError(name + " not in /metrics"));
    }

    private static int sessions(String applicationName) throws SQLException {
        try (Connection c = DB.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                                    + " AND application_name = '" + applicationName + "'")) {
            rs.next();
            return rs.getInt(1);
        }
    }
}
