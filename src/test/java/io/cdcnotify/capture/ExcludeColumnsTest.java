package io.cdcnotify.capture;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code exclude_columns} keeps secrets out of events, so a name that hides nothing is an error: unknown names
 * (a typo, another case) and primary key columns are refused, naming them; a column renamed after capturing
 * withholds the images rather than stream what it held.
 */
class ExcludeColumnsTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static CdcServer server;

    @BeforeAll
    static void start() throws SQLException {
        server = CdcServer.start(DB);
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            for (String table : List.of("public.cards", "public.refused_cards")) {
                st.execute("CREATE TABLE " + table + " (id int PRIMARY KEY, card_number text, \"Pin\" text, holder text)");
            }
        }
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static Api.Response capture(String table, Object exclude) {
        return Api.postJson(server.http("/v1/captures"), CdcServer.ADMIN_KEY,
                            Map.of("table", table, "exclude_columns", exclude));
    }

    @Test
    void unknownAndKeyColumnsAreRefusedByNameAndNothingIsCaptured() {
        Api.Response unknown = capture("public.refused_cards", List.of("CARD_NUMBER", "pin", "holder", "nmae"));
        assertThat(unknown.status()).as(unknown.body()).isEqualTo(400);
        assertThat(unknown.json().get("code").asText()).isEqualTo("bad_request");
        assertThat(unknown.json().get("message").asText())
                .contains("\"CARD_NUMBER\"", "\"pin\"", "\"nmae\"").doesNotContain("\"holder\"");

        Api.Response key = capture("public.refused_cards", List.of("id", "card_number"));
        assertThat(key.status()).as(key.body()).isEqualTo(400);
        assertThat(key.json().get("message").asText()).contains("\"id\"", "primary key");

        Api.Response nul = capture("public.refused_cards", List.of("card\u0000number"));
        assertThat(nul.status()).as(nul.body()).isEqualTo(400);
        assertThat(nul.json().get("code").asText()).isEqualTo("bad_request");

        assertThat(Api.get(server.http("/v1/captures"), CdcServer.ADMIN_KEY).json().findValuesAsText("table"))
                .doesNotContain("public.refused_cards");
    }

    @Test
    void exactNamesAreExcludedAndARenamedExcludedColumnWithholdsTheImages() throws Exception {
        Api.Response made = capture("public.cards", List.of("card_number", "Pin", "card_number"));
        assertThat(made.status()).as(made.body()).isEqualTo(201);
        assertThat(made.json().get("exclude_columns")).extracting(JsonNode::asText).containsExactly("card_number", "Pin");
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            long before = Captured.last(c);
            st.execute("INSERT INTO public.cards VALUES (1, '4111111111111111', '1234', 'Ada')");
            st.execute("ALTER TABLE public.cards RENAME COLUMN card_number TO pan");
            st.execute("UPDATE public.cards SET holder = 'Ada L.'");
            List<Captured.Event> events = Captured.after(c, before);
            assertThat(events).extracting(e -> e.payload().toString()).containsExactly(
                    "{\"key\":{\"id\":1},\"new\":{\"id\":1,\"holder\":\"Ada\"}}",
                    "{\"key\":{\"id\":1},\"withheld\":true}");

            // capturing again with the new name brings the images back
            assertThat(capture("public.cards", List.of("pan", "Pin")).status()).isEqualTo(201);
            long again = Captured.last(c);
            st.execute("UPDATE public.cards SET holder = 'Ada'");
            assertThat(Captured.after(c, again)).extracting(e -> e.payload().toString()).containsExactly(
                    "{\"key\":{\"id\":1},\"new\":{\"id\":1,\"holder\":\"Ada\"},\"old\":{\"id\":1,\"holder\":\"Ada L.\"}}");
        }
    }
}
