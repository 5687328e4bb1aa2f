package io.cdcnotify.contract;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.WsTestClient;

import static org.assertj.core.api.Assertions.assertThat;

/** What the contract tests share: key making, JSON shape checks, and the contract's formats. */
final class Contract {

    /** Contract section 3: UTC, exactly six fractional digits, a literal Z. */
    static final Pattern EVENT_TIMESTAMP = Pattern.compile("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z");
    static final Pattern DECIMAL = Pattern.compile("0|[1-9][0-9]*");
    static final Duration WAIT = Duration.ofSeconds(10);

    private static final AtomicInteger TABLES = new AtomicInteger();

    private Contract() {
    }

    /** A table name no other test uses, so that tests sharing a server do not see each other's events. */
    static String table(String hint) {
        return hint + "_" + TABLES.incrementAndGet();
    }

    /** The set of a JSON object's field names. */
    static Set<String> fields(JsonNode object) {
        assertThat(object.isObject()).as("a JSON object: %s", object).isTrue();
        Set<String> names = new TreeSet<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }

    static List<String> texts(JsonNode array) {
        assertThat(array.isArray()).as("a JSON array: %s", array).isTrue();
        List<String> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }

    /** A key with these tables (not admin, no expiry); returns its plaintext. */
    static String key(CdcServer server, List<String> tables) {
        return Api.createKey(server, tables);
    }

    /** Makes a key with any body, as the admin, and returns the whole 201 answer. */
    static JsonNode createKey(CdcServer server, Map<String, ?> body) {
        Api.Response r = Api.postJson(server.http("/v1/keys"), CdcServer.ADMIN_KEY, body);
        assertThat(r.status()).as("POST /v1/keys %s → %s", body, r.body()).isEqualTo(201);
        return r.json();
    }

    static JsonNode createAdminKey(CdcServer server, List<String> tables) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", "admin-test");
        body.put("tables", tables);
        body.put("admin", true);
        return createKey(server, body);
    }

    /** A durable subscription made over REST; returns its id. */
    static String createSubscription(CdcServer server, String key, List<String> tables) {
        Api.Response r = Api.postJson(server.http("/v1/subscriptions"), key, Map.of("tables", tables));
        assertThat(r.status()).as("POST /v1/subscriptions → %s", r.body()).isEqualTo(201);
        return r.json().get("id").asText();
    }

    /** Connects without a key, sends {@code auth}, and waits for {@code auth_ok}. */
    static WsTestClient authenticatedByMessage(CdcServer server, String key) {
        WsTestClient ws = WsTestClient.connect(server.ws("/v1/ws"));
        ws.send(Map.of("type", "auth", "api_key", key));
        ws.expect("auth_ok");
        return ws;
    }

    static URI events(CdcServer server, String query) {
        return server.http("/v1/events?" + query);
    }

    /** An error object of contract section 4, whether or not it answers a request. */
    static void assertWsError(JsonNode message, String code) {
        assertThat(message.path("type").asText()).as("an error: %s", message).isEqualTo("error");
        assertThat(message.path("v").isInt() && message.get("v").asInt() == 1).as("v is 1: %s", message).isTrue();
        assertThat(message.path("code").asText()).as("code of %s", message).isEqualTo(code);
        assertThat(message.path("message").isTextual()).as("message of %s", message).isTrue();
    }

    /** An error object of contract section 4 answering request {@code requestId} (null: answering none). */
    static void assertWsError(JsonNode message, String code, String requestId) {
        assertThat(message.path("type").asText()).as("an error: %s", message).isEqualTo("error");
        assertThat(message.path("v").isInt() && message.get("v").asInt() == 1).as("v is 1: %s", message).isTrue();
        assertThat(message.path("code").asText()).as("code of %s", message).isEqualTo(code);
        assertThat(message.path("message").isTextual()).as("message of %s", message).isTrue();
        if (requestId == null) {
            assertThat(message.has("request_id")).as("no request_id: %s", message).isFalse();
        } else {
            assertThat(message.path("request_id").asText()).as("request_id of %s", message).isEqualTo(requestId);
        }
    }

    /** The REST and SSE error body of contract sections 5 and 6: exactly {@code code} and {@code message}. */
    static void assertErrorBody(Api.Response r, int status, String code) {
        assertThat(r.status()).as("status of %s", r.body()).isEqualTo(status);
        assertThat(r.raw().headers().firstValue("Content-Type").orElse(""))
                .as("Content-Type").startsWith("application/json");
        JsonNode body = r.json();
        assertThat(fields(body)).isEqualTo(Set.of("code", "message"));
        assertThat(body.get("code").asText()).isEqualTo(code);
        assertThat(body.get("message").isTextual()).isTrue();
    }

    /** Text that a client sees must carry no stack trace and none of these keys. */
    static void assertNoLeak(String text, String... keys) {
        for (String key : keys) {
            assertThat(text).as("a key leaked").doesNotContain(key);
            if (key.startsWith("cdc_")) {
                assertThat(text).as("a key leaked").doesNotContain(key.substring(4));
            }
        }
        assertThat(text).doesNotContainPattern("(?m)\\bat [a-zA-Z_$][\\w$]*(\\.[\\w$<>]+)+\\(")
                .doesNotContain("Exception")
                .doesNotContain("\tat ")
                .doesNotContain("Caused by");
    }
}
