package io.cdcnotify.contract;

import java.sql.SQLException;
import java.util.List;
import java.util.Map;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;
import io.helidon.webserver.testing.junit5.ServerTest;
import io.helidon.webserver.testing.junit5.SetUpServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * REST input the service does not take: oversize bodies, wrong methods, unknown paths — always a contract error body.
 * On Helidon's {@code @ServerTest}: the extension starts the server that {@code Main.setup} wired, injects it, checks
 * that no virtual thread was pinned, and stops it.
 */
@ServerTest(pinningDetection = true)
class RestBadInputTest {

    /** Created in {@link #server}, which Helidon's extension runs before any other extension's beforeAll. */
    private static final TestDatabase DB = new TestDatabase();

    private final CdcServer server;

    RestBadInputTest(WebServer server) {
        this.server = CdcServer.of(server);
    }

    @SetUpServer
    static void server(WebServerConfig.Builder builder) throws SQLException {
        DB.create(RestBadInputTest.class);
        CdcServer.setUp(builder, DB, Map.of("cdc.limits.max-request-bytes", "200"));
    }

    /** Stops the server before its database goes (Helidon's own stop, after this, finds it stopped). */
    @AfterAll
    static void dropDatabase(WebServer server) throws SQLException {
        server.stop();
        DB.drop();
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

    /** Requests refused before routing (malformed encoding, header or request line) get the JSON error body too. */
    @Test
    void aRequestRefusedBeforeRoutingGetsTheContractErrorBody() throws Exception {
        for (String request : List.of("GET /v1/subscriptions/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n",
                                      "GET /v1/events?tables=orders&last_event_id=%ZZ HTTP/1.1\r\nHost: x\r\n\r\n",
                                      "GET /health HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")) {
            String response = raw(request);
            assertThat(response).as(request).startsWith("HTTP/1.1 400");
            assertThat(response.toLowerCase()).as(response).contains("content-type: application/json");
            String body = response.substring(response.indexOf("\r\n\r\n") + 4);
            assertThat(Contract.fields(new com.fasterxml.jackson.databind.ObjectMapper().readTree(body)))
                    .containsExactly("code", "message");
            assertThat(body).contains("\"bad_request\"");
        }
    }

    private String raw(String request) throws java.io.IOException {
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.port())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(request.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            byte[] buffer = new byte[4096];
            int n;
            try {
                while ((n = s.getInputStream().read(buffer)) > 0) {
                    out.write(buffer, 0, n);
                    String text = out.toString(java.nio.charset.StandardCharsets.UTF_8);
                    int headEnd = text.indexOf("\r\n\r\n");
                    java.util.regex.Matcher length = java.util.regex.Pattern.compile("(?i)content-length: (\\d+)").matcher(text);
                    if (headEnd >= 0 && length.find() && text.length() - headEnd - 4 >= Integer.parseInt(length.group(1))) {
                        break;
                    }
                }
            } catch (java.net.SocketTimeoutException e) {
                // whatever came
            }
            return out.toString(java.nio.charset.StandardCharsets.UTF_8);
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
