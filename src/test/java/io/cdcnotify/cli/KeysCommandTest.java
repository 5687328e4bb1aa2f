package io.cdcnotify.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.TestAccess;
import io.cdcnotify.config.Settings;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import io.helidon.config.Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code java -jar cdc-notify.jar keys …}: the first keys without the REST API. */
class KeysCommandTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final ObjectMapper JSON = new ObjectMapper();

    private record Run(int exit, String out, String err) {
        JsonNode json() throws Exception {
            return JSON.readTree(out);
        }
    }

    private static Run keys(String... args) {
        Config config = Settings.load(Map.of("DB_URL", DB.url(), "DB_USER", DB.user(), "DB_PASSWORD", DB.password()));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] line = new String[args.length + 1];
        line[0] = "keys";
        System.arraycopy(args, 0, line, 1, args.length);
        int exit = TestAccess.run(config, new PrintStream(out, true, StandardCharsets.UTF_8),
                                  new PrintStream(err, true, StandardCharsets.UTF_8), line);
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void createPrintsTheKeyOnceAndTheServiceAcceptsIt() throws Exception {
        Run created = keys("create", "--name", "ops", "--tables", "orders,customers", "--expires", "2099-01-01T00:00:00Z");
        assertThat(created.exit()).isZero();
        JsonNode key = created.json();
        assertThat(key.get("key").asText()).startsWith("cdc_").hasSize(47);
        assertThat(key.get("tables")).hasSize(2);
        assertThat(key.get("admin").asBoolean()).isFalse();
        assertThat(key.get("expires_at").asText()).isEqualTo("2099-01-01T00:00:00.000000Z");

        Run list = keys("list");
        assertThat(list.exit()).isZero();
        assertThat(list.json()).hasSize(1);
        assertThat(list.out()).doesNotContain(key.get("key").asText()).doesNotContain("hash");

        try (CdcServer server = CdcServer.start(DB);
             WsTestClient ws = WsTestClient.authenticated(server, key.get("key").asText())) {
            assertThat(ws.subscribe("r", List.of("orders")).get("tables").get(0).asText()).isEqualTo("orders");
        }
        try (Connection c = DB.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM cdc.api_keys WHERE key_hash::text LIKE '%"
                                                    + key.get("key").asText().substring(4, 12) + "%'")) {
            rs.next();
            assertThat(rs.getInt(1)).isZero();
        }
    }

    @Test
    void adminKeysAndRevocation() throws Exception {
        Run created = keys("create", "--name", "root", "--tables", "*", "--admin");
        assertThat(created.exit()).isZero();
        String id = created.json().get("id").asText();
        assertThat(created.json().get("admin").asBoolean()).isTrue();
        assertThat(keys("revoke", id).exit()).isZero();
        Run again = keys("revoke", id);
        assertThat(again.exit()).isEqualTo(1);
        assertThat(again.err()).contains("no such key");
    }

    @Test
    void badUsageExitsWithTwoAndSaysWhy() {
        assertThat(keys().exit()).isEqualTo(2);
        assertThat(keys("create", "--tables", "a").err()).contains("--name is required");
        assertThat(keys("create", "--name", "x").err()).contains("tables must not be empty");
        assertThat(keys("create", "--name", "x", "--tables", "bad name").err()).contains("invalid table name");
        assertThat(keys("create", "--name", "x", "--tables", "a", "--expires", "tomorrow").exit()).isEqualTo(2);
        assertThat(keys("create", "--name", "x", "--tables", "a", "--expires", "tomorrow").err())
                .contains("--expires must be an ISO-8601 timestamp", "keys create --help");
        assertThat(keys("frobnicate").exit()).isEqualTo(2);
        assertThat(keys("frobnicate").err()).contains("unknown command 'frobnicate'");
        assertThat(keys().err()).contains("missing command", "create", "list", "revoke");
        assertThat(keys("revoke").err()).contains("ID");
    }
}
