package io.cdcnotify.it;

import java.time.Duration;
import java.util.ArrayList;
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
import static org.awaitility.Awaitility.await;

/** Two instances on one database: clients move between them and lose nothing; subscriptions are shared. */
class TwoInstancesTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.ownServers();
    private static final TestDatabase DB = CDC.db();

    private static CdcServer a;
    private static CdcServer b;
    private static String key;

    @BeforeAll
    static void start() {
        a = CDC.start(Map.of("cdc.subscriptions.detached-ttl-seconds", "3"));
        b = CDC.start(Map.of("cdc.subscriptions.detached-ttl-seconds", "3"));
        key = Api.createKey(a, List.of("moves", "shared", "brief", "held"));
    }

    @Test
    void aWebSocketClientLeavesAAndResumesOnBWithNothingLost() throws Exception {
        List<Long> written = new ArrayList<>();
        String cursor;
        try (WsTestClient onA = WsTestClient.authenticated(a, key)) {
            onA.subscribe("r", List.of("moves"));
            written.add(CDC.insert("moves", "INSERT", "{\"n\":0}"));
            cursor = onA.events(1, Duration.ofSeconds(10)).getFirst().get("cursor").asText();
        }
        for (int i = 1; i <= 20; i++) {
            written.add(CDC.insert("moves", "INSERT", "{\"n\":" + i + "}"));
        }
        try (WsTestClient onB = WsTestClient.authenticated(b, key)) {
            onB.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("moves"), "resume_from", cursor));
            onB.expect("subscribed");
            written.add(CDC.insert("moves", "INSERT", "{\"n\":21}"));
            assertThat(onB.events(21, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong())
                    .containsExactlyElementsOf(written.subList(1, written.size()));
        }
    }

    @Test
    void anSseClientLeavesAAndResumesOnBWithLastEventId() throws Exception {
        String lastId;
        try (SseTestClient onA = SseTestClient.subscribed(a, key, "moves")) {
            CDC.insert("moves", "INSERT", "{\"sse\":0}");
            lastId = onA.events(1, Duration.ofSeconds(10)).getFirst().id();
        }
        long missed = CDC.insert("moves", "INSERT", "{\"sse\":1}");
        try (SseTestClient onB = SseTestClient.open(b.http("/v1/events?tables=moves"),
                                                    Map.of("Authorization", "Bearer " + key, "Last-Event-ID", lastId))) {
            onB.expect("subscribed");
            assertThat(onB.events(1, Duration.ofSeconds(10)).getFirst().json().get("id").asLong()).isEqualTo(missed);
        }
    }

    @Test
    void aDurableSubscriptionMadeOnAAttachesOnBFromWhereItsLastClientStopped() throws Exception {
        String id;
        try (WsTestClient onA = WsTestClient.authenticated(a, key)) {
            id = onA.subscribe("r", List.of("shared")).get("subscription_id").asText();
            CDC.insert("shared", "INSERT", "{\"seen\":true}");
            String delivered = onA.events(1, Duration.ofSeconds(10)).getFirst().get("cursor").asText();
            // B learns within about a second that a client is attached on A
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> Api.get(b.http("/v1/subscriptions/" + id), key).json().get("attached").asBoolean());
            // A writes the last delivered cursor about once a second
            await().atMost(Duration.ofSeconds(5)).until(() -> delivered.equals(lastCursor(id)));
        }
        await().atMost(Duration.ofSeconds(5))
                .until(() -> !Api.get(b.http("/v1/subscriptions/" + id), key).json().get("attached").asBoolean());
        long missed = CDC.insert("shared", "INSERT", "{\"seen\":false}");
        try (WsTestClient onB = WsTestClient.authenticated(b, key)) {
            onB.send(Map.of("type", "subscribe", "request_id", "r", "subscription_id", id));
            onB.expect("subscribed");
            assertThat(onB.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(missed);
        }
    }

    @Test
    void unsubscribingOnOneInstanceEndsTheSubscriptionForClientsOnTheOther() {
        try (WsTestClient onA = WsTestClient.authenticated(a, key); WsTestClient onB = WsTestClient.authenticated(b, key)) {
            String id = onA.subscribe("r", List.of("shared")).get("subscription_id").asText();
            onB.send(Map.of("type", "subscribe", "request_id", "s", "subscription_id", id));
            onB.expect("subscribed");
            onA.send(Map.of("type", "unsubscribe", "request_id", "u", "subscription_id", id));
            assertThat(onA.expect("unsubscribed").get("request_id").asText()).isEqualTo("u");
            JsonNode told = onB.next(Duration.ofSeconds(5));
            assertThat(told.get("type").asText()).isEqualTo("unsubscribed");
            assertThat(told.get("subscription_id").asText()).isEqualTo(id);
            assertThat(told.has("request_id")).isFalse();
        }
    }

    @Test
    void anAttachedSubscriptionMarkedDetachedByARaceDoesNotExpireUnderItsClient() throws Exception {
        try (WsTestClient onA = WsTestClient.authenticated(a, key)) {
            String id = onA.subscribe("r", List.of("brief")).get("subscription_id").asText();
            // what a sync racing with the attach could leave behind (benchmarks finding 4b)
            try (java.sql.Connection c = DB.connect(); java.sql.Statement st = c.createStatement()) {
                st.execute("UPDATE cdc.subscriptions SET detached_at = now() WHERE id = '" + id + "'");
            }
            await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(7)) // past the 3 s TTL
                    .pollInterval(Duration.ofMillis(250))
                    .untilAsserted(() -> assertThat(Api.get(a.http("/v1/subscriptions/" + id), key).status()).isEqualTo(200));
            long id2 = CDC.insert("brief", "INSERT", "{\"still\":\"here\"}");
            assertThat(onA.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(id2);
        }
    }

    @Test
    void aDetachedSubscriptionExpiresAfterItsTtlEverywhere() {
        String id = Api.postJson(a.http("/v1/subscriptions"), key, Map.of("tables", List.of("brief"))).json()
                .get("id").asText();
        assertThat(Api.get(b.http("/v1/subscriptions/" + id), key).status()).isEqualTo(200);
        await().atMost(Duration.ofSeconds(10)).until(() -> Api.get(b.http("/v1/subscriptions/" + id), key).status() == 404);
        try (WsTestClient onA = WsTestClient.authenticated(a, key)) {
            onA.send(Map.of("type", "subscribe", "request_id", "r", "subscription_id", id));
            JsonNode error = onA.expect("error");
            assertThat(error.get("code").asText()).isEqualTo("not_found");
        }
    }

    @Test
    void anInstanceWhoseClientsLeftDoesNotQueueWhileClientsAreAttachedOnTheOther() throws Exception {
        // contract section 7: the in-memory queue fills only while no client is attached anywhere
        try (WsTestClient a1 = WsTestClient.authenticated(a, key); WsTestClient a2 = WsTestClient.authenticated(a, key);
             WsTestClient b1 = WsTestClient.authenticated(b, key); WsTestClient b2 = WsTestClient.authenticated(b, key)) {
            String id = a1.subscribe("r", List.of("held")).get("subscription_id").asText();
            for (WsTestClient c : List.of(a2, b1, b2)) {
                c.send(Map.of("type", "subscribe", "request_id", "r", "subscription_id", id));
                c.expect("subscribed");
            }
            a1.close();
            a2.close();
            List<Long> written = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                written.add(CDC.insert("held", "INSERT", "{\"n\":" + i + "}"));
            }
            for (WsTestClient c : List.of(b1, b2)) {
                assertThat(c.events(20, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong())
                        .containsExactlyElementsOf(written);
            }
            // A learns from the database (its next sync, about a second) that B's clients are attached, and keeps
            // nothing; before, its queue stayed at 20
            await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
                JsonNode onA = Api.get(a.http("/v1/subscriptions/" + id), key).json();
                assertThat(onA.get("attached").asBoolean()).isTrue();
                assertThat(onA.get("queued").asInt()).as("A queued although B's clients are attached").isZero();
            });
            try (WsTestClient a3 = WsTestClient.authenticated(a, key)) {
                a3.send(Map.of("type", "subscribe", "request_id", "r", "subscription_id", id));
                a3.expect("subscribed");
                long live = CDC.insert("held", "INSERT", "{\"live\":true}");
                assertThat(a3.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong())
                        .as("a plain attach on A starts live, no replay").isEqualTo(live);
            }
        }
    }

    @Test
    void theAttachmentsOfAnInstanceThatDiedLapseAndOnlyTheInstancesHeartbeatCounts() throws Exception {
        String dead = Api.postJson(a.http("/v1/subscriptions"), key, Map.of("tables", List.of("brief"))).json()
                .get("id").asText();
        String alive = Api.postJson(a.http("/v1/subscriptions"), key, Map.of("tables", List.of("brief"))).json()
                .get("id").asText();
        try (java.sql.Connection c = DB.connect(); java.sql.Statement st = c.createStatement()) {
            // an instance that stopped 31 s ago without SIGTERM, holding one; one alive, whose attachment row
            // was written long ago and never refreshed (only its instance's heartbeat is)
            st.execute("INSERT INTO cdc.instances (id, heartbeat_at) VALUES ('i-dead', now() - interval '31 seconds'), "
                       + "('i-alive', now() + interval '1 hour')");
            st.execute("INSERT INTO cdc.subscription_attachments (subscription_id, instance_id, heartbeat_at) VALUES "
                       + "('" + dead + "', 'i-dead', now() - interval '31 seconds'), "
                       + "('" + alive + "', 'i-alive', now() - interval '1 hour')");
            st.execute("UPDATE cdc.subscriptions SET detached_at = NULL WHERE id IN ('" + dead + "', '" + alive + "')");
        }
        // the next sync of either instance notices (about a second; generous for a busy machine)
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> {
            JsonNode s = Api.get(b.http("/v1/subscriptions/" + dead), key).json();
            assertThat(s.get("attached").asBoolean()).isFalse();
            assertThat(s.get("expires_at").isNull()).isFalse();
        });
        try (java.sql.Connection c = DB.connect(); java.sql.Statement st = c.createStatement();
             java.sql.ResultSet rs = st.executeQuery("SELECT count(*) FROM cdc.instances WHERE id = 'i-dead'")) {
            rs.next();
            assertThat(rs.getInt(1)).as("the dead instance is removed").isZero();
        }
        // the dead one's expires after the 3 s TTL; by then the live instance's one has been past its TTL too,
        // and stays, attached
        await().atMost(Duration.ofSeconds(15))
                .until(() -> Api.get(a.http("/v1/subscriptions/" + dead), key).status() == 404);
        JsonNode held = Api.get(a.http("/v1/subscriptions/" + alive), key).json();
        assertThat(held.get("attached").asBoolean()).isTrue();
        try (java.sql.Connection c = DB.connect(); java.sql.Statement st = c.createStatement()) {
            st.execute("DELETE FROM cdc.instances WHERE id = 'i-alive'");
            st.execute("DELETE FROM cdc.subscription_attachments WHERE instance_id = 'i-alive'");
        }
    }

    private static String lastCursor(String subscriptionId) throws java.sql.SQLException {
        try (java.sql.Connection c = DB.connect();
             java.sql.PreparedStatement st = c.prepareStatement("SELECT last_cursor FROM cdc.subscriptions WHERE id = ?")) {
            st.setString(1, subscriptionId);
            try (java.sql.ResultSet rs = st.executeQuery()) {
                return rs.next() ? rs.getString(1) : null;
            }
        }
    }
}
