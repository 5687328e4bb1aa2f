package io.cdcnotify.capture;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.db.Captures;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A captured row arrives exactly as {@code to_jsonb} renders it: every column, NULL ones as {@code null}, and
 * {@code jsonb} values with their {@code null} members, in the outbox and on the wire.
 */
class CapturedImagesTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final String NESTED_NULLS = "{\"a\":null,\"b\":[1,null,\"x\"],\"c\":{\"n\":null,\"d\":\"e\"}}";

    private static CdcServer server;

    @BeforeAll
    static void start() throws SQLException {
        server = CdcServer.start(DB);
        try (Connection c = DB.connect(); Statement st = c.createStatement()) {
            st.execute("""
                    CREATE TABLE public.every_type (
                        id        integer PRIMARY KEY,
                        big       bigint,
                        amount    numeric(14, 4),
                        label     text,
                        flag      boolean,
                        at        timestamptz,
                        doc       jsonb,
                        ref       uuid,
                        tags      text[],
                        note      text)""");
        }
        try (var database = Captured.open(DB)) {
            new Captures(database.client()).add("public.every_type", List.of());
        }
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void insertUpdateAndDeleteImagesEqualToJsonbValueByValue() throws Exception {
        try (WsTestClient ws = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY);
             Connection c = DB.connect(); Statement st = c.createStatement()) {
            ws.subscribe("r", List.of("public.every_type"));
            long before = Captured.last(c);
            List<JsonNode> expectedNew = new ArrayList<>();
            List<JsonNode> expectedOld = new ArrayList<>();

            st.execute("INSERT INTO every_type VALUES (1, 9007199254740993, 12.5000, 'Ada', true, "
                       + "'2026-01-02T03:04:05.123456Z', '" + NESTED_NULLS + "', "
                       + "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{a,NULL,\"c d\"}', NULL)");
            expectedNew.add(Captured.toJsonb(c, "every_type", "id = 1"));
            expectedOld.add(null);
            st.execute("INSERT INTO every_type (id) VALUES (2)"); // every other column NULL
            expectedNew.add(Captured.toJsonb(c, "every_type", "id = 2"));
            expectedOld.add(null);

            JsonNode oldOne = Captured.toJsonb(c, "every_type", "id = 1");
            st.execute("UPDATE every_type SET doc = '{\"k\":[true,{\"z\":null}]}', label = NULL, flag = false, "
                       + "amount = -0.0001, tags = '{}' WHERE id = 1");
            expectedNew.add(Captured.toJsonb(c, "every_type", "id = 1"));
            expectedOld.add(oldOne);
            JsonNode oldTwo = Captured.toJsonb(c, "every_type", "id = 2");
            st.execute("UPDATE every_type SET note = 'set', doc = 'null' WHERE id = 2"); // a jsonb null, not SQL NULL
            expectedNew.add(Captured.toJsonb(c, "every_type", "id = 2"));
            expectedOld.add(oldTwo);

            JsonNode lastOne = Captured.toJsonb(c, "every_type", "id = 1");
            JsonNode lastTwo = Captured.toJsonb(c, "every_type", "id = 2");
            st.execute("DELETE FROM every_type WHERE id = 1");
            st.execute("DELETE FROM every_type WHERE id = 2");
            expectedNew.add(null);
            expectedOld.add(lastOne);
            expectedNew.add(null);
            expectedOld.add(lastTwo);

            List<Captured.Event> events = Captured.after(c, before);
            assertThat(events).extracting(Captured.Event::operation)
                    .containsExactly("INSERT", "INSERT", "UPDATE", "UPDATE", "DELETE", "DELETE");
            for (int i = 0; i < events.size(); i++) {
                Captured.Event e = events.get(i);
                assertThat(e.table()).isEqualTo("public.every_type");
                assertImage(e.payload().get("new"), expectedNew.get(i), e + " new");
                assertImage(e.payload().get("old"), expectedOld.get(i), e + " old");
                JsonNode row = expectedNew.get(i) != null ? expectedNew.get(i) : expectedOld.get(i);
                assertThat(e.payload().get("key")).isEqualTo(Captured.JSON.createObjectNode().set("id", row.get("id")));
            }
            // spelled out, for the reader: NULL columns present, jsonb untouched
            JsonNode first = events.getFirst().payload().get("new");
            assertThat(first.has("note")).isTrue();
            assertThat(first.get("note").isNull()).isTrue();
            assertThat(first.get("doc")).isEqualTo(Captured.json(NESTED_NULLS));
            assertThat(events.get(1).payload().get("new").size()).isEqualTo(10);
            assertThat(events.get(2).payload().at("/new/doc")).isEqualTo(Captured.json("{\"k\":[true,{\"z\":null}]}"));
            // and the same in SQL, compared by PostgreSQL itself
            assertThat(Captured.single(c, """
                    SELECT count(*) FROM cdc.outbox
                     WHERE id > %d AND payload -> 'new' -> 'doc' = '%s'::jsonb""".formatted(before, NESTED_NULLS)))
                    .isOne();

            // what clients receive is the same payload
            List<JsonNode> delivered = ws.events(events.size(), Duration.ofSeconds(10));
            Iterator<Captured.Event> stored = events.iterator();
            for (JsonNode event : delivered) {
                Captured.Event e = stored.next();
                assertThat(event.get("id").asLong()).isEqualTo(e.id());
                assertThat(event.get("payload")).isEqualTo(e.payload());
            }
        }
    }

    private static void assertImage(JsonNode actual, JsonNode expected, String what) {
        if (expected == null) {
            assertThat(actual).as(what + " is absent").isNull();
            return;
        }
        assertThat(actual).as(what).isNotNull();
        List<String> expectedKeys = new ArrayList<>();
        expected.fieldNames().forEachRemaining(expectedKeys::add);
        List<String> actualKeys = new ArrayList<>();
        actual.fieldNames().forEachRemaining(actualKeys::add);
        assertThat(actualKeys).as(what + " columns").containsExactlyInAnyOrderElementsOf(expectedKeys);
        for (String k : expectedKeys) {
            assertThat(actual.get(k)).as(what + " column " + k).isEqualTo(expected.get(k));
        }
    }
}
