package io.cdcnotify.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.TestAccess;
import io.cdcnotify.config.Settings;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code java -jar cdc-notify.jar captures …}: capture tables without the REST API. */
class CapturesCommandTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private record Run(int exit, String out, String err) {
    }

    private static Run captures(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] line = new String[args.length + 1];
        line[0] = "captures";
        System.arraycopy(args, 0, line, 1, args.length);
        int exit = TestAccess.run(Settings.load(Map.of("DB_URL", DB.url(), "DB_USER", DB.user(),
                                                        "DB_PASSWORD", DB.password())),
                                  new PrintStream(out, true, StandardCharsets.UTF_8),
                                  new PrintStream(err, true, StandardCharsets.UTF_8), line);
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void excludedColumnsMustNameColumnsExactly() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.cards (id int PRIMARY KEY, card_number text)");
        }
        Run unknown = captures("add", "public.cards", "--exclude", "CARD_NUMBER,cvv");
        assertThat(unknown.exit()).isEqualTo(2);
        assertThat(unknown.err()).contains("\"CARD_NUMBER\"", "\"cvv\"");
        assertThat(unknown.out()).isEmpty();
        Run key = captures("add", "public.cards", "--exclude", "id");
        assertThat(key.exit()).isEqualTo(2);
        assertThat(key.err()).contains("\"id\"", "primary key");
        assertThat(captures("list").out()).doesNotContain("public.cards");

        Run add = captures("add", "public.cards", "--exclude", "card_number");
        assertThat(add.exit()).as(add.err()).isZero();
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("ALTER TABLE public.cards RENAME TO cards_renamed");
        }
        // the captured name, and beside it what the table is called now
        JsonNode listed = new ObjectMapper().readTree(captures("list").out()).get(0);
        assertThat(listed.get("table").asText()).isEqualTo("public.cards");
        assertThat(listed.get("current_table").asText()).isEqualTo("public.cards_renamed");
        // capturing it again, by its new name as the search path finds it, keeps the name its events carry
        Run again = captures("add", "cards_renamed", "--exclude", "card_number");
        assertThat(again.exit()).as(again.err()).isZero();
        assertThat(new ObjectMapper().readTree(again.out()).get("table").asText()).isEqualTo("public.cards");
        Run removed = captures("remove", "cards_renamed");
        assertThat(removed.exit()).as(removed.err()).isZero();
        assertThat(captures("list").out()).doesNotContain("public.cards");
    }

    @Test
    void addListRemove() throws Exception {
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE public.items (id int PRIMARY KEY, secret text)");
        }
        Run add = captures("add", "public.items", "--exclude", "secret");
        assertThat(add.exit()).as(add.err()).isZero();
        JsonNode made = new ObjectMapper().readTree(add.out());
        assertThat(made.get("table").asText()).isEqualTo("public.items");
        assertThat(made.get("exclude_columns").get(0).asText()).isEqualTo("secret");
        assertThat(captures("list").out()).contains("public.items");

        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("INSERT INTO items VALUES (1, 'hidden')");
            try (ResultSet rs = st.executeQuery("SELECT table_name, payload::text FROM cdc.outbox")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("public.items");
                assertThat(rs.getString(2)).contains("\"id\": 1").doesNotContain("hidden");
            }
        }
        assertThat(captures("remove", "public.items").exit()).isZero();
        assertThat(captures("remove", "public.items").exit()).isEqualTo(1);
        Run missing = captures("add", "public.missing");
        assertThat(missing.err()).contains("no such table");
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(captures("list").out()).doesNotContain("public.items");
        Run none = captures("add");
        assertThat(none.exit()).isEqualTo(2);
        assertThat(none.err()).contains("TABLE");
        Run typo = captures("add", "public.items", "--exlude", "secret");
        assertThat(typo.exit()).isEqualTo(2);
        assertThat(typo.err()).contains("--exlude").contains("captures add --help");
        Run unknown = captures("frob");
        assertThat(unknown.exit()).isEqualTo(2);
        assertThat(unknown.err()).contains("unknown command 'frob'");
        assertThat(unknown.out()).isEmpty();
    }
}
