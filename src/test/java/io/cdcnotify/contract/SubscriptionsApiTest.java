package io.cdcnotify.contract;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
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
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static io.cdcnotify.contract.Contract.assertErrorBody;
import static io.cdcnotify.contract.Contract.fields;
import static io.cdcnotify.contract.Contract.table;
import static io.cdcnotify.contract.Contract.texts;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Contract section 6, {@code /v1/subscriptions}: a key's durable subscriptions, with exactly the fields the
 * contract names ({@code attached}, {@code queued}, {@code dropped}, {@code expires_at}); another key's are 404.
 * Queues hold at most 3 events here, so that {@code dropped} can be seen.
 */
class SubscriptionsApiTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final Set<String> SUBSCRIPTION_FIELDS =
            Set.of("id", "tables", "created_at", "attached", "queued", "dropped", "expires_at");
    private static final Duration TTL = Duration.ofSeconds(300);

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.subscriptions.queue-max-events", "3"));
        key = Contract.key(server, List.of("*"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void postCreatesADurableSubscriptionAnswering201WithIdTablesAndCreatedAt() {
        String a = table("orders");
        String b = table("customers");
        Instant before = Instant.now().minusSeconds(1);
        Api.Response r = post(key, "{\"tables\":[\"" + a + "\",\"" + b + "\"]}");
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        JsonNode s = r.json();
        assertThat(fields(s)).isEqualTo(Set.of("id", "tables", "created_at"));
        assertThat(s.get("id").asText()).matches("s-\\S+");
        assertThat(texts(s.get("tables"))).containsExactlyInAnyOrder(a, b);
        assertThat(s.get("created_at").asText()).endsWith("Z");
        assertThat(Instant.parse(s.get("created_at").asText())).isBetween(before, Instant.now().plusSeconds(1));
    }

    @Test
    void createdAtIsOneValueInThePostAnswerGetAndTheList() {
        // PostgreSQL keeps microseconds and rounds: a nanosecond clock once gave …28.259181Z in the answer to
        // POST and …28.259182Z in GET; twenty subscriptions make a mismatch all but certain if it comes back
        String t = table("stamped");
        Map<String, String> posted = new java.util.HashMap<>();
        for (int i = 0; i < 20; i++) {
            JsonNode s = post(key, "{\"tables\":[\"" + t + "\"]}").json();
            posted.put(s.get("id").asText(), s.get("created_at").asText());
        }
        posted.forEach((id, createdAt) -> assertThat(
                Api.get(server.http("/v1/subscriptions/" + id), key).json().get("created_at").asText())
                .as(id).isEqualTo(createdAt));
        Map<String, String> listed = new java.util.HashMap<>();
        Api.get(server.http("/v1/subscriptions"), key).json()
                .forEach(s -> listed.put(s.get("id").asText(), s.get("created_at").asText()));
        assertThat(listed).containsAllEntriesOf(posted);
    }

    @Test
    void getByIdAnswersItsFieldsAndANeverAttachedSubscriptionExpiresTtlAfterCreation() {
        String t = table("orders");
        String id = Contract.createSubscription(server, key, List.of(t));
        Api.Response r = Api.get(server.http("/v1/subscriptions/" + id), key);
        assertThat(r.status()).isEqualTo(200);
        JsonNode s = r.json();
        assertThat(fields(s)).isEqualTo(SUBSCRIPTION_FIELDS);
        assertThat(s.get("id").asText()).isEqualTo(id);
        assertThat(texts(s.get("tables"))).containsExactly(t);
        assertThat(s.get("attached").isBoolean()).isTrue();
        assertThat(s.get("attached").asBoolean()).isFalse();
        assertThat(s.get("queued").isIntegralNumber()).isTrue();
        assertThat(s.get("queued").asLong()).isZero();
        assertThat(s.get("dropped").isIntegralNumber()).isTrue();
        assertThat(s.get("dropped").asLong()).isZero();
        assertThat(s.get("expires_at").asText()).endsWith("Z");
        assertThat(Instant.parse(s.get("expires_at").asText()))
                .isEqualTo(Instant.parse(s.get("created_at").asText()).plus(TTL));
    }

    @Test
    void queuedCountsEventsWaitingWhileDetachedAndDroppedThoseTheFullQueueLost() throws Exception {
        String t = table("orders");
        String id = Contract.createSubscription(server, key, List.of(t));
        for (int i = 0; i < 5; i++) {
            Outbox.insert(DB, t, "INSERT", "{\"n\":" + i + "}");
        }
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            JsonNode s = Api.get(server.http("/v1/subscriptions/" + id), key).json();
            assertThat(s.get("queued").asLong()).isEqualTo(3);
            assertThat(s.get("dropped").asLong()).isEqualTo(2);
        });
    }

    @Test
    void whileAClientIsAttachedAttachedIsTrueAndExpiresAtNullThenTtlAfterItLeaves() {
        String t = table("orders");
        String id = Contract.createSubscription(server, key, List.of(t));
        Instant left;
        try (WsTestClient ws = WsTestClient.authenticated(server, key).closingCleanly()) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "subscription_id", id));
            ws.expect("subscribed");
            JsonNode s = Api.get(server.http("/v1/subscriptions/" + id), key).json();
            assertThat(s.get("attached").asBoolean()).isTrue();
            assertThat(s.get("expires_at").isNull()).as("expires_at while attached: %s", s).isTrue();
            left = Instant.now();
        }
        await().atMost(Contract.WAIT).untilAsserted(() -> {
            JsonNode s = Api.get(server.http("/v1/subscriptions/" + id), key).json();
            assertThat(s.get("attached").asBoolean()).isFalse();
            assertThat(Instant.parse(s.get("expires_at").asText()))
                    .isBetween(left.plus(TTL).minusSeconds(1), Instant.now().plus(TTL).plusSeconds(1));
        });
    }

    @Test
    void getListsTheCallersSubscriptionsEachAsGetByIdAnswersIt() {
        String other = Contract.key(server, List.of("*"));
        String one = Contract.createSubscription(server, other, List.of(table("a")));
        String two = Contract.createSubscription(server, other, List.of(table("b"), table("c")));
        String notMine = Contract.createSubscription(server, key, List.of(table("d")));
        Api.Response r = Api.get(server.http("/v1/subscriptions"), other);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.json().isArray()).isTrue();
        List<JsonNode> list = new ArrayList<>();
        r.json().forEach(list::add);
        assertThat(list).extracting(s -> s.get("id").asText()).containsExactlyInAnyOrder(one, two);
        assertThat(list).extracting(s -> s.get("id").asText()).doesNotContain(notMine);
        for (JsonNode s : list) {
            assertThat(fields(s)).isEqualTo(SUBSCRIPTION_FIELDS);
            assertThat(s).isEqualTo(Api.get(server.http("/v1/subscriptions/" + s.get("id").asText()), other).json());
        }
    }

    @Test
    void aKeyWithoutSubscriptionsGetsAnEmptyList() {
        String fresh = Contract.key(server, List.of("orders"));
        Api.Response r = Api.get(server.http("/v1/subscriptions"), fresh);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.json().isArray()).isTrue();
        assertThat(r.json().size()).isZero();
    }

    @Test
    void deleteAnswers204ThenGetAndDeleteAre404() {
        String id = Contract.createSubscription(server, key, List.of(table("orders")));
        Api.Response deleted = Api.delete(server.http("/v1/subscriptions/" + id), key);
        assertThat(deleted.status()).isEqualTo(204);
        assertThat(deleted.body()).isEmpty();
        assertErrorBody(Api.get(server.http("/v1/subscriptions/" + id), key), 404, "not_found");
        assertErrorBody(Api.delete(server.http("/v1/subscriptions/" + id), key), 404, "not_found");
        assertThat(Api.get(server.http("/v1/subscriptions"), key).json())
                .noneMatch(s -> s.get("id").asText().equals(id));
    }

    @Test
    void anotherKeysSubscriptionIs404AndIsLeftAlone() {
        String id = Contract.createSubscription(server, key, List.of(table("orders")));
        String other = Contract.key(server, List.of("*"));
        assertErrorBody(Api.get(server.http("/v1/subscriptions/" + id), other), 404, "not_found");
        assertErrorBody(Api.delete(server.http("/v1/subscriptions/" + id), other), 404, "not_found");
        assertErrorBody(Api.get(server.http("/v1/subscriptions/" + id), CdcServer.ADMIN_KEY), 404, "not_found");
        assertThat(Api.get(server.http("/v1/subscriptions/" + id), key).status()).isEqualTo(200);
    }

    @Test
    void anUnknownIdIs404() {
        for (String id : List.of("s-0000000000000000", "nonsense")) {
            assertErrorBody(Api.get(server.http("/v1/subscriptions/" + id), key), 404, "not_found");
            assertErrorBody(Api.delete(server.http("/v1/subscriptions/" + id), key), 404, "not_found");
        }
    }

    @Test
    void aSubscriptionMadeOverRestIsTheSameOneAWebSocketAttachesTo() throws Exception {
        String t = table("orders");
        String id = Contract.createSubscription(server, key, List.of(t));
        long waiting = Outbox.insert(DB, t, "INSERT", "{}");
        await().atMost(Contract.WAIT).until(
                () -> Api.get(server.http("/v1/subscriptions/" + id), key).json().get("queued").asLong() == 1);
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            ws.send(Map.of("type", "subscribe", "request_id", "r1", "subscription_id", id));
            ws.expect("subscribed");
            assertThat(ws.events(1, Contract.WAIT).getFirst().get("id").asLong()).isEqualTo(waiting);
        }
    }

    static Stream<Arguments> invalidBodies() {
        return Stream.of(Arguments.of("tables missing", "{}"),
                         Arguments.of("tables null", "{\"tables\":null}"),
                         Arguments.of("tables empty", "{\"tables\":[]}"),
                         Arguments.of("tables a string", "{\"tables\":\"orders\"}"),
                         Arguments.of("tables holding a number", "{\"tables\":[\"orders\",2]}"),
                         Arguments.of("an invalid table name", "{\"tables\":[\"or ders\"]}"),
                         Arguments.of("an empty table name", "{\"tables\":[\"\"]}"),
                         Arguments.of("a table name of 129 characters", "{\"tables\":[\"" + "t".repeat(129) + "\"]}"),
                         Arguments.of("malformed JSON", "{\"tables\":[\"orders\""),
                         Arguments.of("an array", "[\"orders\"]"),
                         Arguments.of("empty body", ""));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidBodies")
    void anInvalidBodyIs400BadRequest(String what, String body) {
        assertErrorBody(post(key, body), 400, "bad_request");
    }

    @Test
    void aBodyThatIsNotDeclaredJsonIs400() {
        assertErrorBody(Api.send("POST", server.http("/v1/subscriptions"), key, "{\"tables\":[\"orders\"]}", "text/plain"),
                        400, "bad_request");
    }

    @Test
    void aTableOutsideTheKeysScopeIs403() {
        String mine = table("orders");
        String scoped = Contract.key(server, List.of(mine));
        assertErrorBody(post(scoped, "{\"tables\":[\"" + mine + "\",\"" + table("secret") + "\"]}"), 403, "forbidden");
        assertErrorBody(post(scoped, "{\"tables\":[\"*\"]}"), 403, "forbidden");
        assertThat(post(scoped, "{\"tables\":[\"" + mine + "\"]}").status()).isEqualTo(201);
    }

    @Test
    void noKeyOrAnUnknownKeyIs401EvenWithAMalformedBody() {
        for (String bad : new String[] {null, "cdc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
            assertErrorBody(post(bad, "{\"tables\":[\"orders\"]}"), 401, "unauthorized");
            assertErrorBody(post(bad, "{\"tables\":"), 401, "unauthorized");
            assertErrorBody(Api.get(server.http("/v1/subscriptions"), bad), 401, "unauthorized");
            assertErrorBody(Api.get(server.http("/v1/subscriptions/s-1"), bad), 401, "unauthorized");
            assertErrorBody(Api.delete(server.http("/v1/subscriptions/s-1"), bad), 401, "unauthorized");
        }
    }

    private static Api.Response post(String bearer, String body) {
        return Api.send("POST", server.http("/v1/subscriptions"), bearer, body, "application/json");
    }
}
