package io.cdcnotify.contract;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import static io.cdcnotify.contract.Contract.assertErrorBody;
import static io.cdcnotify.contract.Contract.fields;
import static io.cdcnotify.contract.Contract.texts;
import static org.assertj.core.api.Assertions.assertThat;

/** Contract section 6, {@code /v1/keys}: admins make, list and revoke keys, which are stored only as hashes. */
class KeysApiTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    private static final Set<String> KEY_FIELDS = Set.of("id", "name", "tables", "admin", "expires_at", "created_at");
    private static final String MALFORMED = "{\"name\": \"x\", \"tables\": [";


    @Test
    void postCreatesAKeyAnswering201WithItsFieldsAndThePlaintextKey() {
        Instant before = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        Api.Response r = post(CdcServer.ADMIN_KEY, "{\"name\":\"svc-a\",\"tables\":[\"orders\",\"customers\"]}");
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        JsonNode k = r.json();
        Set<String> expected = new java.util.HashSet<>(KEY_FIELDS);
        expected.add("key");
        assertThat(fields(k)).isEqualTo(expected);
        assertThat(k.get("id").isTextual()).isTrue();
        assertThat(k.get("id").asText()).isNotEmpty();
        assertThat(k.get("name").asText()).isEqualTo("svc-a");
        assertThat(texts(k.get("tables"))).containsExactly("orders", "customers");
        assertThat(k.get("admin").isBoolean()).isTrue();
        assertThat(k.get("admin").asBoolean()).as("admin defaults to false").isFalse();
        assertThat(k.get("expires_at").isNull()).as("expires_at defaults to null").isTrue();
        assertThat(k.get("created_at").asText()).endsWith("Z");
        assertThat(Instant.parse(k.get("created_at").asText())).isBetween(before, Instant.now().plusSeconds(1));
        assertThat(k.get("key").isTextual()).isTrue();
        assertThat(k.get("key").asText()).isNotEmpty();
    }

    @Test
    void theCreatedKeyAuthenticates() {
        String key = Contract.key(CDC.server(), List.of("orders"));
        assertThat(Api.get(CDC.server().http("/v1/state"), key).status()).isEqualTo(200);
    }

    @Test
    void postTakesAdminAndExpiresAt() {
        Instant expires = Instant.now().plus(1, ChronoUnit.DAYS).truncatedTo(ChronoUnit.MILLIS);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("name", "ops");
        body.put("tables", List.of("*"));
        body.put("admin", true);
        body.put("expires_at", expires.toString());
        JsonNode k = Contract.createKey(CDC.server(), body);
        assertThat(k.get("admin").asBoolean()).isTrue();
        assertThat(k.get("expires_at").asText()).endsWith("Z");
        assertThat(Instant.parse(k.get("expires_at").asText())).isEqualTo(expires);
        assertThat(texts(k.get("tables"))).containsExactly("*");
    }

    @Test
    void postWithExplicitDefaultsIsAccepted() {
        JsonNode k = Contract.createKey(CDC.server(), new LinkedHashMap<>(Map.of("name", "svc", "tables", List.of("orders"),
                                                                           "admin", false)));
        assertThat(k.get("admin").asBoolean()).isFalse();
        Api.Response r = post(CdcServer.ADMIN_KEY, "{\"name\":\"svc\",\"tables\":[\"orders\"],\"admin\":false,\"expires_at\":null}");
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(r.json().get("expires_at").isNull()).isTrue();
    }

    @Test
    void aKeyMadeAdminMayManageKeys() {
        String admin = Contract.createAdminKey(CDC.server(), List.of("orders")).get("key").asText();
        Api.Response r = post(admin, "{\"name\":\"by-admin\",\"tables\":[\"orders\"]}");
        assertThat(r.status()).as(r.body()).isEqualTo(201);
        assertThat(Api.get(CDC.server().http("/v1/keys"), admin).status()).isEqualTo(200);
    }

    static Stream<Arguments> invalidBodies() {
        return Stream.of(Arguments.of("name missing", "{\"tables\":[\"orders\"]}"),
                         Arguments.of("name null", "{\"name\":null,\"tables\":[\"orders\"]}"),
                         Arguments.of("name a number", "{\"name\":5,\"tables\":[\"orders\"]}"),
                         Arguments.of("tables missing", "{\"name\":\"x\"}"),
                         Arguments.of("tables null", "{\"name\":\"x\",\"tables\":null}"),
                         Arguments.of("tables empty", "{\"name\":\"x\",\"tables\":[]}"),
                         Arguments.of("tables a string", "{\"name\":\"x\",\"tables\":\"orders\"}"),
                         Arguments.of("tables holding a number", "{\"name\":\"x\",\"tables\":[\"orders\",1]}"),
                         Arguments.of("an invalid table name", "{\"name\":\"x\",\"tables\":[\"orders;drop\"]}"),
                         Arguments.of("an empty table name", "{\"name\":\"x\",\"tables\":[\"\"]}"),
                         Arguments.of("a table name of 129 characters",
                                      "{\"name\":\"x\",\"tables\":[\"" + "a".repeat(129) + "\"]}"),
                         Arguments.of("admin a string", "{\"name\":\"x\",\"tables\":[\"orders\"],\"admin\":\"yes\"}"),
                         Arguments.of("admin a number", "{\"name\":\"x\",\"tables\":[\"orders\"],\"admin\":1}"),
                         Arguments.of("expires_at a number", "{\"name\":\"x\",\"tables\":[\"orders\"],\"expires_at\":5}"),
                         Arguments.of("expires_at not a timestamp",
                                      "{\"name\":\"x\",\"tables\":[\"orders\"],\"expires_at\":\"tomorrow\"}"),
                         Arguments.of("malformed JSON", MALFORMED),
                         Arguments.of("an array", "[{\"name\":\"x\",\"tables\":[\"orders\"]}]"),
                         Arguments.of("empty body", ""));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidBodies")
    void anInvalidBodyIs400BadRequest(String what, String body) {
        assertErrorBody(post(CdcServer.ADMIN_KEY, body), 400, "bad_request");
    }

    @Test
    void aBodyThatIsNotDeclaredJsonIs400() {
        String body = "{\"name\":\"x\",\"tables\":[\"orders\"]}";
        assertErrorBody(Api.send("POST", CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY, body, "text/plain"),
                        400, "bad_request");
        assertErrorBody(Api.send("POST", CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY, body, null), 400, "bad_request");
    }

    @Test
    void getListsTheKeysWithTheirFieldsButNeverAKeyOrItsHash() throws Exception {
        JsonNode created = Contract.createKey(CDC.server(), Map.of("name", "listed", "tables", List.of("orders")));
        String plaintext = created.get("key").asText();
        Api.Response r = Api.get(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
        JsonNode list = r.json();
        assertThat(list.isArray()).isTrue();
        List<JsonNode> keys = new ArrayList<>();
        list.forEach(keys::add);
        assertThat(keys).allSatisfy(k -> assertThat(fields(k)).isEqualTo(KEY_FIELDS));
        JsonNode mine = keys.stream().filter(k -> k.get("id").asText().equals(created.get("id").asText()))
                .findFirst().orElseThrow();
        for (String field : KEY_FIELDS) {
            assertThat(mine.get(field)).as(field).isEqualTo(created.get(field));
        }
        byte[] hash = MessageDigest.getInstance("SHA-256").digest(plaintext.getBytes(StandardCharsets.UTF_8));
        assertThat(r.body()).doesNotContain(plaintext)
                .doesNotContain(plaintext.substring(plaintext.length() - 20))
                .doesNotContainIgnoringCase(HexFormat.of().formatHex(hash))
                .doesNotContain(Base64.getEncoder().encodeToString(hash))
                .doesNotContain(Base64.getUrlEncoder().withoutPadding().encodeToString(hash))
                .doesNotContainIgnoringCase("hash")
                .doesNotContain(CdcServer.ADMIN_KEY);
    }

    @Test
    void deleteAnswers204ThenTheKeyIsGoneAnd404() {
        JsonNode created = Contract.createKey(CDC.server(), Map.of("name", "short", "tables", List.of("orders")));
        String id = created.get("id").asText();
        Api.Response deleted = Api.delete(CDC.server().http("/v1/keys/" + id), CdcServer.ADMIN_KEY);
        assertThat(deleted.status()).isEqualTo(204);
        assertThat(deleted.body()).isEmpty();
        assertErrorBody(Api.delete(CDC.server().http("/v1/keys/" + id), CdcServer.ADMIN_KEY), 404, "not_found");
        assertThat(Api.get(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY).json())
                .noneMatch(k -> k.get("id").asText().equals(id));
        assertErrorBody(Api.get(CDC.server().http("/v1/state"), created.get("key").asText()), 401, "unauthorized");
    }

    @Test
    void deletingAnUnknownKeyIs404() {
        assertErrorBody(Api.delete(CDC.server().http("/v1/keys/key_0000000000000000"), CdcServer.ADMIN_KEY), 404, "not_found");
        assertErrorBody(Api.delete(CDC.server().http("/v1/keys/anything"), CdcServer.ADMIN_KEY), 404, "not_found");
    }

    @Test
    void aKeyWithoutAdminRightsIs403() {
        String key = Contract.key(CDC.server(), List.of("*"));
        String victim = Contract.createKey(CDC.server(), Map.of("name", "victim", "tables", List.of("orders"))).get("id").asText();
        assertErrorBody(post(key, "{\"name\":\"x\",\"tables\":[\"orders\"]}"), 403, "forbidden");
        assertErrorBody(Api.get(CDC.server().http("/v1/keys"), key), 403, "forbidden");
        assertErrorBody(Api.delete(CDC.server().http("/v1/keys/" + victim), key), 403, "forbidden");
        assertThat(Api.get(CDC.server().http("/v1/keys"), CdcServer.ADMIN_KEY).json())
                .anyMatch(k -> k.get("id").asText().equals(victim));
    }

    @Test
    void rightsAreCheckedBeforeTheBody() {
        String key = Contract.key(CDC.server(), List.of("orders"));
        assertErrorBody(post(key, MALFORMED), 403, "forbidden");
        assertErrorBody(Api.send("POST", CDC.server().http("/v1/keys"), key, "plain text", "text/plain"), 403, "forbidden");
        assertErrorBody(post(null, MALFORMED), 401, "unauthorized");
        assertErrorBody(post("cdc_unknown", MALFORMED), 401, "unauthorized");
    }

    @Test
    void noKeyOrAnUnknownKeyIs401() {
        for (String bad : new String[] {null, "cdc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage"}) {
            assertErrorBody(post(bad, "{\"name\":\"x\",\"tables\":[\"orders\"]}"), 401, "unauthorized");
            assertErrorBody(Api.get(CDC.server().http("/v1/keys"), bad), 401, "unauthorized");
            assertErrorBody(Api.delete(CDC.server().http("/v1/keys/whatever"), bad), 401, "unauthorized");
        }
    }

    @Test
    void noTableInTheDatabaseHoldsAPlaintextKey() throws Exception {
        List<String> keys = List.of(Contract.key(CDC.server(), List.of("orders")),
                                    Contract.createAdminKey(CDC.server(), List.of("*")).get("key").asText());
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = st.executeQuery(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                            + "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'")) {
                while (rs.next()) {
                    tables.add(rs.getString(1));
                }
            }
            assertThat(tables).contains("cdc.api_keys");
            for (String table : tables) {
                try (ResultSet rs = st.executeQuery("SELECT row_to_json(t)::text FROM " + table + " t")) {
                    while (rs.next()) {
                        String row = rs.getString(1);
                        for (String key : keys) {
                            assertThat(row).as("a row of %s", table).doesNotContain(key)
                                    .doesNotContain(key.substring(key.length() - 20));
                        }
                    }
                }
            }
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM cdc.api_keys")) {
                rs.next();
                assertThat(rs.getLong(1)).isGreaterThanOrEqualTo(2);
            }
        }
    }

    private static Api.Response post(String bearer, String body) {
        return Api.send("POST", CDC.server().http("/v1/keys"), bearer, body, "application/json");
    }
}
