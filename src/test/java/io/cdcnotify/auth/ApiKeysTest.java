package io.cdcnotify.auth;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

import io.cdcnotify.config.AuthConfig;
import io.helidon.common.uri.UriQuery;
import io.helidon.http.HeaderNames;
import io.helidon.http.WritableHeaders;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Keys without a database: scopes, expiry, hashing, the bootstrap admin key, and where a request carries its key. */
class ApiKeysTest {

    private static final Instant NOW = Instant.parse("2026-11-25T12:00:00Z");

    // ---- ApiKey ----

    @Test
    void aKeyReadsItsTablesOnly() {
        ApiKey key = key(List.of("orders", "customers"), false, Optional.empty());

        assertThat(key.allows("orders")).isTrue();
        assertThat(key.allows("salaries")).isFalse();
        assertThat(key.allows("Orders")).isFalse();
        assertThat(key.allowsAll(List.of("orders", "customers"))).isTrue();
        assertThat(key.allowsAll(List.of("orders", "salaries"))).isFalse();
        assertThat(key.allowsAll(List.of("*"))).as("a subscription to every table needs a key for every table").isFalse();
        assertThat(key.allowsAll(List.of())).isTrue();
    }

    @Test
    void everyTableOrAdminReadsEverything() {
        ApiKey star = key(List.of("*"), false, Optional.empty());
        ApiKey admin = key(List.of("orders"), true, Optional.empty());

        for (ApiKey k : List.of(star, admin)) {
            assertThat(k.allows("anything")).isTrue();
            assertThat(k.allowsAll(List.of("*"))).isTrue();
            assertThat(k.allowsAll(List.of("a", "b"))).isTrue();
        }
    }

    @Test
    void aKeyExpiresAtItsExpiryNeverBefore() {
        ApiKey key = key(List.of("orders"), false, Optional.of(NOW));

        assertThat(key.expiredAt(NOW.minusNanos(1))).isFalse();
        assertThat(key.expiredAt(NOW)).isTrue();
        assertThat(key.expiredAt(NOW.plusSeconds(1))).isTrue();
        assertThat(key(List.of("orders"), false, Optional.empty()).expiredAt(Instant.MAX)).isFalse();
    }

    @Test
    void aKeysTablesCannotChangeAfterwards() {
        List<String> tables = new ArrayList<>(List.of("orders"));
        ApiKey key = key(tables, false, Optional.empty());
        tables.add("salaries");

        assertThat(key.allows("salaries")).isFalse();
        assertThatThrownBy(() -> key.tables().add("x")).isInstanceOf(UnsupportedOperationException.class);
    }

    // ---- ApiKeys without a database ----

    @Test
    void hashIsSha256OfTheUtf8Text() {
        assertThat(HexFormat.of().formatHex(ApiKeys.hash("abc")))
                .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assertThat(HexFormat.of().formatHex(ApiKeys.hash("\u00e9")))
                .as("UTF-8, not Latin-1").isEqualTo(HexFormat.of().formatHex(sha256(new byte[] {(byte) 0xc3, (byte) 0xa9})));
    }

    @Test
    void theBootstrapAdminKeyIsAcceptedWithoutTheDatabase() {
        ApiKeys keys = new ApiKeys(null, new AuthConfig(Optional.of("bootstrap-secret"), Duration.ofSeconds(2),
                                                        Duration.ofSeconds(1)), Clock.systemUTC());

        Optional<ApiKey> admin = keys.authenticate("bootstrap-secret");

        assertThat(admin).isPresent();
        assertThat(admin.get().admin()).isTrue();
        assertThat(admin.get().id()).isEqualTo(ApiKey.BOOTSTRAP_ADMIN_ID);
        assertThat(admin.get().allowsAll(List.of("*"))).isTrue();
        assertThat(admin.get().expiresAt()).isEmpty();
        assertThat(admin.get().toString()).doesNotContain("bootstrap-secret");
    }

    @Test
    void secretsThatCannotBeKeysAreRefusedWithoutTheDatabase() {
        ApiKeys keys = new ApiKeys(null, new AuthConfig(Optional.of("bootstrap-secret"), Duration.ofSeconds(2),
                                                        Duration.ofSeconds(1)), Clock.systemUTC());

        assertThat(keys.authenticate(null)).isEmpty();
        assertThat(keys.authenticate("")).isEmpty();
        assertThat(keys.authenticate("bootstrap-secret ")).isEmpty();
        assertThat(keys.authenticate("BOOTSTRAP-SECRET")).isEmpty();
        assertThat(keys.authenticate("not-a-cdc-key")).isEmpty();
        assertThat(keys.authenticate(ApiKeys.PREFIX + "x".repeat(300))).as("too long to be a key").isEmpty();
    }

    @Test
    void withoutABootstrapKeyNothingIsAdmin() {
        ApiKeys keys = new ApiKeys(null, new AuthConfig(Optional.empty(), Duration.ofSeconds(2), Duration.ofSeconds(1)),
                                   Clock.systemUTC());
        assertThat(keys.authenticate("anything")).isEmpty();
        assertThat(keys.gone(java.util.Set.of(ApiKey.BOOTSTRAP_ADMIN_ID))).as("the bootstrap key is never gone").isEmpty();
    }

    @Test
    void aCreatedKeyNeverPrintsItsSecret() {
        ApiKeys.Created created = new ApiKeys.Created(key(List.of("orders"), false, Optional.empty()),
                                                      "cdc_supersecretvalue");
        assertThat(created.toString()).doesNotContain("cdc_supersecretvalue");
    }

    // ---- Credentials ----

    @Test
    void aBearerHeaderCarriesTheKey() {
        assertThat(Credentials.from(headers("Bearer cdc_abc"), UriQuery.empty())).contains("cdc_abc");
        assertThat(Credentials.from(headers("bearer cdc_abc"), UriQuery.empty())).as("scheme is case-insensitive")
                .contains("cdc_abc");
        assertThat(Credentials.from(headers("BEARER   cdc_abc  "), UriQuery.empty())).contains("cdc_abc");
    }

    @Test
    void otherAuthorizationHeadersCarryNoKey() {
        for (String value : List.of("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer    ", "cdc_abc", "Bearercdc_abc",
                                    "")) {
            assertThat(Credentials.from(headers(value), UriQuery.empty())).as("'%s'", value).isEmpty();
        }
    }

    @Test
    void theQueryCarriesTheKeyWhenTheHeaderDoesNot() {
        assertThat(Credentials.from(WritableHeaders.create(), UriQuery.create("api_key=cdc_q&x=1"))).contains("cdc_q");
        assertThat(Credentials.from(WritableHeaders.create(), UriQuery.create("api_key="))).isEmpty();
        assertThat(Credentials.from(WritableHeaders.create(), UriQuery.create("key=cdc_q"))).isEmpty();
        assertThat(Credentials.from(WritableHeaders.create(), UriQuery.empty())).isEmpty();
        assertThat(Credentials.from(headers("Basic x"), UriQuery.create("api_key=cdc_q"))).contains("cdc_q");
    }

    @Test
    void theHeaderWinsOverTheQuery() {
        assertThat(Credentials.from(headers("Bearer cdc_header"), UriQuery.create("api_key=cdc_query")))
                .contains("cdc_header");
    }

    // ---- helpers ----

    private static ApiKey key(List<String> tables, boolean admin, Optional<Instant> expiresAt) {
        return new ApiKey("key_1", "test", tables, admin, expiresAt, NOW.minusSeconds(60));
    }

    private static WritableHeaders<?> headers(String authorization) {
        WritableHeaders<?> h = WritableHeaders.create();
        h.add(HeaderNames.AUTHORIZATION, authorization);
        return h;
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
