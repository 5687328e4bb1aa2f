package io.cdcnotify.contract;

import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.LogCapture;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import static io.cdcnotify.contract.Contract.assertErrorBody;
import static io.cdcnotify.contract.Contract.assertWsError;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 12: input that PostgreSQL would refuse (a NUL byte, a timestamp past {@code timestamptz}) or that has no
 * business in a name is answered with the contract's code before it reaches SQL — never {@code internal}, never a
 * 1011 close, never a stack trace or ERROR in the log. An id of the wrong form names nothing: {@code not_found}
 * ("an id that names no subscription of the caller, whatever its form").
 */
class HostileInputTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer().withKey("orders");
    private static final TestDatabase DB = CDC.db();

    @RegisterExtension
    final LogCapture.CleanEachTest log = LogCapture.cleanEachTest();

    /** Ids in a URL path or query, percent-encoded. */
    static Stream<String> badIds() {
        return Stream.of("%00", "s-0123456789abcdef%00", "s-%01%02", "%E2%82%AC", "s-" + "a".repeat(300), "%27%3B--",
                         "..%2F..%2Fetc");
    }

    @ParameterizedTest
    @MethodSource("badIds")
    void aSubscriptionIdOfAnyFormOverRestIsNotFound(String id) {
        assertErrorBody(Api.get(CDC.server().http("/v1/subscriptions/" + id), CDC.key()), 404, "not_found");
        assertErrorBody(Api.delete(CDC.server().http("/v1/subscriptions/" + id), CDC.key()), 404, "not_found");
    }

    @ParameterizedTest
    @MethodSource("badIds")
    void aSubscriptionIdOfAnyFormOverSseIsNotFound(String id) {
        try (SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?subscription_id=" + id + "&api_key=" + CDC.key()))) {
            assertThat(sse.status()).isEqualTo(404);
            assertThat(sse.bodyJson().get("code").asText()).isEqualTo("not_found");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"\\u0000", "s-0123456789abcdef\\u0000", "\\u0007", "\\ud800", "s-\\u20ac"})
    void aSubscriptionIdOfAnyFormOverWebSocketIsNotFoundAndTheConnectionStaysOpen(String jsonId) {
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CDC.key())) {
            ws.send("{\"type\":\"subscribe\",\"request_id\":\"s\",\"subscription_id\":\"" + jsonId + "\"}");
            assertWsError(ws.next(), "not_found", "s");
            ws.send("{\"type\":\"unsubscribe\",\"request_id\":\"u\",\"subscription_id\":\"" + jsonId + "\"}");
            assertWsError(ws.next(), "not_found", "u");
            ws.send("{\"type\":\"ping\",\"request_id\":\"p\"}");
            assertThat(ws.next().get("type").asText()).isEqualTo("pong");
            assertThat(ws.closeFuture()).isNotDone();
        }
    }

    @Test
    void aKeyIdOfAnyFormIsNotFound() {
        for (String id : List.of("%00", "key_%00", "key_%07", "%E2%82%AC", "k".repeat(300))) {
            assertErrorBody(Api.delete(CDC.server().http("/v1/keys/" + id), CdcServer.ADMIN_KEY), 404, "not_found");
        }
    }

    static Stream<Arguments> badKeyNames() {
        return Stream.of(Arguments.of("NUL", "a\u0000b"), Arguments.of("bell", "a\u0007"),
                         Arguments.of("newline", "line\nbreak"), Arguments.of("DEL", "x\u007f"),
                         Arguments.of("C1", "x\u0085"), Arguments.of("too long", "n".repeat(201)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badKeyNames")
    void aKeyNameWithControlCharactersOrTooLongIsBadRequest(String what, String name) {
        assertErrorBody(Api.postJson(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                     Map.of("name", name, "tables", List.of("orders"))), 400, "bad_request");
    }

    @Test
    void aKeyNameOfAnyOtherTextIsTaken() {
        Api.Response r = Api.postJson(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                      Map.of("name", "Bestellungen – €, 注文 😀", "tables", List.of("orders")));
        assertThat(r.status()).isEqualTo(201);
        assertThat(r.json().get("name").asText()).isEqualTo("Bestellungen – €, 注文 😀");
    }

    @ParameterizedTest
    @ValueSource(strings = {"+999999999-12-31T23:59:59Z", "-999999999-01-01T00:00:00Z", "+10000-01-01T00:00:00Z",
                            "10000-01-01T00:00:00Z", "2027-13-01T00:00:00Z", "2027-01-01T00:00:00", "\u0000"})
    void anExpiresAtOutsideTheTakenRangeIsBadRequest(String expiresAt) {
        assertErrorBody(Api.postJson(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                     Map.of("name", "far", "tables", List.of("orders"), "expires_at", expiresAt)),
                        400, "bad_request");
    }

    @Test
    void theLastInstantOfTheYear9999IsTaken() {
        Api.Response r = Api.postJson(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                      Map.of("name", "far", "tables", List.of("orders"),
                                             "expires_at", "9999-12-31T23:59:59.999999Z"));
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.json().get("expires_at").asText()).isEqualTo("9999-12-31T23:59:59.999999Z");
    }

    static Stream<Arguments> nulFilters() {
        return Stream.of(Arguments.of("value", "{\"status\":\"a\\u0000\"}"),
                         Arguments.of("value in eq", "{\"status\":{\"eq\":\"\\u0000\"}}"),
                         Arguments.of("value in in", "{\"status\":{\"in\":[\"ok\",\"\\u0000\"]}}"),
                         Arguments.of("path", "{\"sta\\u0000tus\":\"paid\"}"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("nulFilters")
    void aNulInAFilterIsBadRequestOnEveryPath(String what, String filter) {
        Api.Response rest = Api.send("POST", CDC.server().http("/v1/subscriptions"), CDC.key(),
                                     "{\"tables\":[\"orders\"],\"filter\":" + filter + "}", "application/json");
        assertErrorBody(rest, 400, "bad_request");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CDC.key())) {
            ws.send("{\"type\":\"subscribe\",\"request_id\":\"f\",\"tables\":[\"orders\"],\"filter\":" + filter + "}");
            assertWsError(ws.next(), "bad_request", "f");
        }
        String query = "/v1/events?tables=orders&api_key=" + CDC.key() + "&filter="
                + java.net.URLEncoder.encode(filter, java.nio.charset.StandardCharsets.UTF_8);
        try (SseTestClient sse = SseTestClient.open(CDC.server().http(query))) {
            assertThat(sse.status()).isEqualTo(400);
            assertThat(sse.bodyJson().get("code").asText()).isEqualTo("bad_request");
        }
    }

    @Test
    void aNulInATableNameOrCursorIsBadRequestOnEveryPath() {
        assertErrorBody(Api.send("POST", CDC.server().http("/v1/subscriptions"), CDC.key(), "{\"tables\":[\"ord\\u0000ers\"]}",
                                 "application/json"), 400, "bad_request");
        assertErrorBody(Api.send("POST", CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY,
                                 "{\"name\":\"n\",\"tables\":[\"\\u0000\"]}", "application/json"), 400, "bad_request");
        try (WsTestClient ws = WsTestClient.authenticated(CDC.server(), CDC.key())) {
            ws.send("{\"type\":\"subscribe\",\"request_id\":\"t\",\"tables\":[\"\\u0000\"]}");
            assertWsError(ws.next(), "bad_request", "t");
            ws.send("{\"type\":\"subscribe\",\"request_id\":\"c\",\"tables\":[\"orders\"],\"resume_from\":\"\\u0000\"}");
            assertWsError(ws.next(), "bad_request", "c");
        }
        for (String query : List.of("tables=%00", "tables=orders&last_event_id=%00", "tables=orders%00")) {
            URI uri = CDC.server().http("/v1/events?" + query + "&api_key=" + CDC.key());
            try (SseTestClient sse = SseTestClient.open(uri)) {
                assertThat(sse.status()).as(query).isEqualTo(400);
                assertThat(sse.bodyJson().get("code").asText()).isEqualTo("bad_request");
            }
        }
    }

    @Test
    void aNulInAnApiKeyIsUnauthorized() {
        try (SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?tables=orders&api_key=cdc_%00"))) {
            assertThat(sse.status()).isEqualTo(401);
        }
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws"))) {
            ws.send("{\"type\":\"auth\",\"request_id\":\"a\",\"api_key\":\"cdc_\\u0000\"}");
            JsonNode error = ws.next();
            assertWsError(error, "unauthorized", "a");
            assertThat(ws.closed().code()).isEqualTo(4401);
        }
    }
}
