package io.cdcnotify.contract;

import java.util.List;
import java.util.Map;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** REST input the service does not take: oversize bodies, wrong methods, unknown paths — always a contract error body. */
class RestBadInputTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static CdcServer server;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.max-request-bytes", "200"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void aBodyOverTheLimitIsBadRequest() {
        String big = "{\"name\":\"" + "x".repeat(300) + "\",\"tables\":[\"t\"]}";
        Api.Response r = Api.send("POST", server.http("/v1/keys"), CdcServer.ADMIN_KEY, big, "application/json");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.json().get("code").asText()).isEqualTo("bad_request");
        assertThat(r.json().get("message").asText()).contains("larger than 200 bytes");
        Api.Response s = Api.send("POST", server.http("/v1/subscriptions"), CdcServer.ADMIN_KEY,
                                  "{\"tables\":[\"" + "t,".repeat(100) + "\"]}", "application/json");
        assertThat(s.status()).isEqualTo(400);
        // a body at the limit is read
        assertThat(Api.postJson(server.http("/v1/keys"), CdcServer.ADMIN_KEY, Map.of("name", "ok", "tables", List.of("t")))
                           .status()).isEqualTo(201);
    }

    @Test
    void wrongMethodsAndUnknownPathsGetTheContractErrorBody() {
        for (Api.Response r : List.of(
                Api.send("PUT", server.http("/v1/keys"), CdcServer.ADMIN_KEY, "{}", "application/json"),
                Api.send("PATCH", server.http("/v1/subscriptions/s-1"), CdcServer.ADMIN_KEY, "{}", "application/json"),
                Api.get(server.http("/v1/nothing-here"), CdcServer.ADMIN_KEY),
                Api.delete(server.http("/v1/state"), CdcServer.ADMIN_KEY))) {
            assertThat(r.status()).as(r.body()).isBetween(400, 499);
            assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
            assertThat(Contract.fields(r.json())).containsExactly("code", "message");
            assertThat(r.json().get("code").asText()).isIn("not_found", "bad_request");
            assertThat(r.body()).doesNotContain("Exception").doesNotContain("\tat ");
        }
    }

    @Test
    void aPostWithoutABodyOrWithTheWrongShapeIsBadRequest() {
        assertThat(Api.send("POST", server.http("/v1/keys"), CdcServer.ADMIN_KEY, "", "application/json").status())
                .isEqualTo(400);
        assertThat(Api.send("POST", server.http("/v1/keys"), CdcServer.ADMIN_KEY, "[1,2]", "application/json")
                           .json().get("message").asText()).contains("JSON object");
        assertThat(Api.send("POST", server.http("/v1/captures"), CdcServer.ADMIN_KEY, "{\"table\":5}", "application/json")
                           .status()).isEqualTo(400);
    }
}
