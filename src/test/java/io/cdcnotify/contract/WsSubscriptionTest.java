package io.cdcnotify.contract;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static io.cdcnotify.contract.Contract.assertWsError;
import static io.cdcnotify.contract.Contract.fields;
import static io.cdcnotify.contract.Contract.table;
import static io.cdcnotify.contract.Contract.texts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Contract section 4, the requests of an authenticated WebSocket: subscribe (tables, subscription_id,
 * resume_from), unsubscribe, ping; the events; scopes ({@code forbidden}, {@code *}, admin keys);
 * {@code not_found}; the subscriptions-per-connection limit.
 */
class WsSubscriptionTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);

    private static CdcServer server;
    /** A key that may read every table. */
    private static String all;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.max-subscriptions-per-connection", "3"));
        all = Contract.key(server, List.of("*"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void subscribeAnswersSubscribedWithTheRequestIdASubscriptionIdAndTheTables() {
        String a = table("orders");
        String b = table("customers");
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "tables", List.of(a, b)));
            JsonNode m = ws.next();
            assertThat(fields(m)).isEqualTo(Set.of("v", "type", "request_id", "subscription_id", "tables"));
            assertThat(m.get("v").isInt()).isTrue();
            assertThat(m.get("v").asInt()).isEqualTo(1);
            assertThat(m.get("type").asText()).isEqualTo("subscribed");
            assertThat(m.get("request_id").asText()).isEqualTo("r1");
            assertThat(m.get("subscription_id").asText()).matches("s-\\S+");
            assertThat(texts(m.get("tables"))).containsExactlyInAnyOrder(a, b);
        }
    }

    @Test
    void eventsArriveAsCdcEventMessagesCarryingTheEvent() throws Exception {
        String t = table("orders");
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            String sid = ws.subscribe("r1", List.of(t)).get("subscription_id").asText();
            long id = Outbox.insert(DB, t, "UPDATE", "{\"id\": 42, \"status\": \"shipped\"}");
            JsonNode m = ws.next();
            assertThat(fields(m)).isEqualTo(Set.of("v", "type", "subscription_id", "event"));
            assertThat(m.get("v").asInt()).isEqualTo(1);
            assertThat(m.get("type").asText()).isEqualTo("cdc_event");
            assertThat(m.get("subscription_id").asText()).isEqualTo(sid);
            JsonNode e = m.get("event");
            assertThat(fields(e)).isEqualTo(Set.of("id", "cursor", "table", "operation", "payload", "created_at"));
            assertThat(e.get("id").isTextual()).as("id is a string").isTrue();
            assertThat(e.get("id").asText()).isEqualTo(Long.toString(id));
            assertThat(e.get("cursor").isTextual()).isTrue();
            assertThat(e.get("cursor").asText()).isNotEmpty();
            assertThat(e.get("table").asText()).isEqualTo(t);
            assertThat(e.get("operation").asText()).isEqualTo("UPDATE");
            assertThat(e.get("payload")).isEqualTo(JSON.readTree("{\"id\": 42, \"status\": \"shipped\"}"));
            assertThat(e.get("created_at").asText()).matches(Contract.EVENT_TIMESTAMP);
        }
    }

    @Test
    void subscribeWithASubscriptionIdAndNoTablesEchoesTheSubscriptionsTables() {
        String a = table("orders");
        String b = table("customers");
        String sid = Contract.createSubscription(server, all, List.of(a, b));
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r7", "subscription_id", sid));
            JsonNode m = ws.expect("subscribed");
            assertThat(m.get("request_id").asText()).isEqualTo("r7");
            assertThat(m.get("subscription_id").asText()).isEqualTo(sid);
            assertThat(texts(m.get("tables"))).containsExactlyInAnyOrder(a, b);
        }
    }

    @Test
    void subscribeWithResumeFromSendsTheEventsAfterTheCursorThenLiveEvents() throws Exception {
        String t = table("orders");
        List<Long> ids;
        String cursor;
        try (WsTestClient first = WsTestClient.authenticated(server, all)) {
            first.subscribe("r1", List.of(t));
            ids = List.of(Outbox.insert(DB, t, "INSERT", "{\"n\":1}"),
                          Outbox.insert(DB, t, "INSERT", "{\"n\":2}"),
                          Outbox.insert(DB, t, "INSERT", "{\"n\":3}"));
            cursor = first.events(3, Contract.WAIT).getFirst().get("cursor").asText();
        }
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "tables", List.of(t), "resume_from", cursor));
            assertThat(ws.expect("subscribed").get("request_id").asText()).isEqualTo("r2");
            assertThat(ws.events(2, Contract.WAIT)).extracting(e -> e.get("id").asLong())
                    .containsExactly(ids.get(1), ids.get(2));
            long live = Outbox.insert(DB, t, "INSERT", "{\"n\":4}");
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(live);
        }
    }

    @Test
    void subscribeWithASubscriptionIdAndResumeFromReplaysAfterTheCursor() throws Exception {
        String t = table("orders");
        String sid = Contract.createSubscription(server, all, List.of(t));
        String cursor;
        long second;
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "subscription_id", sid));
            ws.expect("subscribed");
            Outbox.insert(DB, t, "INSERT", "{\"n\":1}");
            second = Outbox.insert(DB, t, "INSERT", "{\"n\":2}");
            cursor = ws.events(2, Contract.WAIT).getFirst().get("cursor").asText();
        }
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "subscription_id", sid, "resume_from", cursor));
            JsonNode subscribed = ws.expect("subscribed");
            assertThat(subscribed.get("subscription_id").asText()).isEqualTo(sid);
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(second);
        }
    }

    @Test
    void aClientAttachingToASubscriptionOthersHoldStartsWithLiveEvents() throws Exception {
        String t = table("orders");
        try (WsTestClient a = WsTestClient.authenticated(server, all);
             WsTestClient b = WsTestClient.authenticated(server, all)) {
            String sid = a.subscribe("r1", List.of(t)).get("subscription_id").asText();
            Outbox.insert(DB, t, "INSERT", "{\"before\":true}");
            a.events(1, Contract.WAIT);
            b.send(Map.of("type", "subscribe", "request_id", "r2", "subscription_id", sid));
            b.expect("subscribed");
            long live = Outbox.insert(DB, t, "INSERT", "{\"after\":true}");
            assertThat(b.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(live);
            assertThat(a.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(live);
        }
    }

    @Test
    void closingTheConnectionOnlyDetachesItsSubscription() {
        String t = table("orders");
        String sid;
        try (WsTestClient ws = WsTestClient.authenticated(server, all).closingCleanly()) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "tables", List.of(t)));
            sid = ws.expect("subscribed").get("subscription_id").asText();
        }
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            Api.Response r = Api.get(server.http("/v1/subscriptions/" + sid), all);
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.json().get("attached").asBoolean()).isFalse();
        });
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "again", "subscription_id", sid));
            assertThat(ws.expect("subscribed").get("subscription_id").asText()).isEqualTo(sid);
        }
    }

    @Test
    void aConnectionDroppedWithoutACloseFrameDetachesItsSubscriptionWithinFiveSeconds() {
        // The contract gives no bound for noticing a vanished peer; 5 s is what it allows elsewhere for
        // ending things (revocation, unsubscribe), and a detached subscription must start queueing.
        String t = table("orders");
        WsTestClient ws = WsTestClient.authenticated(server, all);
        String sid = ws.subscribe("r1", List.of(t)).get("subscription_id").asText();
        ws.close(); // aborts the TCP connection: no close frame
        await().atMost(FIVE_SECONDS).untilAsserted(() -> {
            Api.Response r = Api.get(server.http("/v1/subscriptions/" + sid), all);
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.json().get("attached").asBoolean()).isFalse();
        });
    }

    @Test
    void unsubscribeAnswersUnsubscribedAndOtherAttachedClientsGetUnsubscribedWithoutRequestId() throws Exception {
        String t = table("orders");
        String marker = table("marker");
        try (WsTestClient a = WsTestClient.authenticated(server, all);
             WsTestClient b = WsTestClient.authenticated(server, all)) {
            String sid = a.subscribe("r1", List.of(t)).get("subscription_id").asText();
            b.send(Map.of("type", "subscribe", "request_id", "r2", "subscription_id", sid));
            b.expect("subscribed");
            b.subscribe("r3", List.of(marker));

            a.send(Map.of("type", "unsubscribe", "request_id", "r4", "subscription_id", sid));
            JsonNode answer = a.next();
            assertThat(fields(answer)).isEqualTo(Set.of("v", "type", "request_id", "subscription_id"));
            assertThat(answer.get("v").asInt()).isEqualTo(1);
            assertThat(answer.get("type").asText()).isEqualTo("unsubscribed");
            assertThat(answer.get("request_id").asText()).isEqualTo("r4");
            assertThat(answer.get("subscription_id").asText()).isEqualTo(sid);

            JsonNode told = b.next(FIVE_SECONDS);
            assertThat(fields(told)).isEqualTo(Set.of("v", "type", "subscription_id"));
            assertThat(told.get("v").asInt()).isEqualTo(1);
            assertThat(told.get("type").asText()).isEqualTo("unsubscribed");
            assertThat(told.get("subscription_id").asText()).isEqualTo(sid);

            // the subscription is gone everywhere: no more events, and REST no longer knows it
            Outbox.insert(DB, t, "INSERT", "{\"after\":\"unsubscribe\"}");
            long m = Outbox.insert(DB, marker, "INSERT", "{}");
            JsonNode next = b.next();
            assertThat(next.path("type").asText()).isEqualTo("cdc_event");
            assertThat(next.get("event").get("id").asLong()).isEqualTo(m);
            assertThat(Api.get(server.http("/v1/subscriptions/" + sid), all).status()).isEqualTo(404);
        }
    }

    @Test
    void deletingTheSubscriptionOverRestTellsAttachedClientsUnsubscribed() {
        String t = table("orders");
        String sid = Contract.createSubscription(server, all, List.of(t));
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "subscription_id", sid));
            ws.expect("subscribed");
            assertThat(Api.delete(server.http("/v1/subscriptions/" + sid), all).status()).isEqualTo(204);
            JsonNode told = ws.next(FIVE_SECONDS);
            assertThat(fields(told)).isEqualTo(Set.of("v", "type", "subscription_id"));
            assertThat(told.get("type").asText()).isEqualTo("unsubscribed");
            assertThat(told.get("subscription_id").asText()).isEqualTo(sid);
        }
    }

    @Test
    void pingAnswersPongWithTheRequestId() {
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "ping", "request_id", "r3"));
            JsonNode m = ws.next();
            assertThat(fields(m)).isEqualTo(Set.of("v", "type", "request_id"));
            assertThat(m.get("v").asInt()).isEqualTo(1);
            assertThat(m.get("type").asText()).isEqualTo("pong");
            assertThat(m.get("request_id").asText()).isEqualTo("r3");
        }
    }

    @Test
    void aTableOutsideTheKeysScopeIsForbiddenAndTheConnectionStaysUsable() {
        String mine = table("orders");
        String other = table("secret");
        String scoped = Contract.key(server, List.of(mine));
        try (WsTestClient ws = WsTestClient.authenticated(server, scoped)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "tables", List.of(mine, other)));
            assertWsError(ws.next(), "forbidden", "r1");
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "tables", List.of("*")));
            assertWsError(ws.next(), "forbidden", "r2");
            assertThat(ws.subscribe("r3", List.of(mine)).get("request_id").asText()).isEqualTo("r3");
        }
    }

    @Test
    void aKeyWithStarMayReadAnyTable() throws Exception {
        String t = table("anything");
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.subscribe("r1", List.of(t));
            long id = Outbox.insert(DB, t, "DELETE", "{}");
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(id);
        }
    }

    @Test
    void subscribingToStarDeliversEveryTable() throws Exception {
        String a = table("one");
        String b = table("two");
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.subscribe("r1", List.of("*"));
            long first = Outbox.insert(DB, a, "INSERT", "{}");
            long second = Outbox.insert(DB, b, "INSERT", "{}");
            // other tests' events may arrive too: only these two matter, in order
            List<Long> seen = new java.util.ArrayList<>();
            ws.until(m -> {
                if ("cdc_event".equals(m.path("type").asText())) {
                    long id = m.get("event").get("id").asLong();
                    if (id == first || id == second) {
                        seen.add(id);
                    }
                }
                return seen.size() == 2;
            }, Contract.WAIT);
            assertThat(seen).containsExactly(first, second);
        }
    }

    @Test
    void anAdminKeyMayReadEveryTableWhateverItsTables() throws Exception {
        String t = table("elsewhere");
        String admin = Contract.createAdminKey(server, List.of(table("orders"))).get("key").asText();
        try (WsTestClient ws = WsTestClient.authenticated(server, admin)) {
            ws.subscribe("r1", List.of(t));
            long id = Outbox.insert(DB, t, "INSERT", "{}");
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(id);
        }
    }

    @Test
    void theConfiguredAdminKeyMayReadEveryTable() throws Exception {
        String t = table("elsewhere");
        try (WsTestClient ws = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY)) {
            ws.subscribe("r1", List.of(t));
            long id = Outbox.insert(DB, t, "INSERT", "{}");
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(id);
        }
    }

    @Test
    void aTableNameOf128AllowedCharactersIsValid() {
        String name = ("Ab9_." + "x".repeat(200)).substring(0, 128);
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            assertThat(texts(ws.subscribe("r1", List.of(name)).get("tables"))).containsExactly(name);
        }
    }

    @ParameterizedTest(name = "\"{0}\"")
    @ValueSource(strings = {"s-0000000000000000", "no-such-thing", "", "c-1234", "s-"})
    void anUnknownSubscriptionIdInSubscribeIsNotFound(String id) {
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "subscription_id", id));
            assertWsError(ws.next(), "not_found", "r1");
        }
    }

    @ParameterizedTest(name = "\"{0}\"")
    @ValueSource(strings = {"s-0000000000000000", "no-such-thing", "", "c-1234", "s-"})
    void anUnknownSubscriptionIdInUnsubscribeIsNotFound(String id) {
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.send(Map.of("type", "unsubscribe", "request_id", "r1", "subscription_id", id));
            assertWsError(ws.next(), "not_found", "r1");
        }
    }

    @Test
    void anotherKeysSubscriptionIsNotFoundToSubscribeAndUnsubscribeAndIsLeftAlone() {
        String t = table("orders");
        String theirs = Contract.createSubscription(server, all, List.of(t));
        String other = Contract.key(server, List.of("*"));
        try (WsTestClient ws = WsTestClient.authenticated(server, other)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "subscription_id", theirs));
            assertWsError(ws.next(), "not_found", "r1");
            ws.send(Map.of("type", "unsubscribe", "request_id", "r2", "subscription_id", theirs));
            assertWsError(ws.next(), "not_found", "r2");
        }
        assertThat(Api.get(server.http("/v1/subscriptions/" + theirs), all).status()).isEqualTo(200);
    }

    @Test
    void subscriptionsPastTheConnectionLimitGetLimitExceededAndTheConnectionStaysOpen() throws Exception {
        String t = table("orders");
        try (WsTestClient ws = WsTestClient.authenticated(server, all)) {
            ws.subscribe("r1", List.of(t));
            ws.subscribe("r2", List.of(table("b")));
            ws.subscribe("r3", List.of(table("c")));
            ws.send(Map.of("type", "subscribe", "request_id", "r4", "tables", List.of(table("d"))));
            assertWsError(ws.next(), "limit_exceeded", "r4");
            ws.send(Map.of("type", "ping", "request_id", "p"));
            assertThat(ws.expect("pong").get("request_id").asText()).isEqualTo("p");
            long id = Outbox.insert(DB, t, "INSERT", "{}");
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(id);
            assertThat(ws.closeFuture()).isNotDone();
        }
    }
}
