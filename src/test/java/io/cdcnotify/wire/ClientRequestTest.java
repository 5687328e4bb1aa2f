package io.cdcnotify.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Optional;

import io.cdcnotify.outbox.Cursor;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Parsing client frames (contract section 4): every frame is either a well-formed request or {@code Invalid}. */
class ClientRequestTest {

    private static final String CURSOR = new Cursor(48_213_772, 9_120_455, new long[] {48_213_701}).encode();

    private static final List<String> VALID_FRAMES = List.of(
            "{\"type\":\"auth\",\"api_key\":\"cdc_abc\"}",
            "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders\",\"customers\"]}",
            "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"subscription_id\":\"s-1\",\"resume_from\":\"" + CURSOR + "\"}",
            "{\"type\":\"unsubscribe\",\"request_id\":\"r2\",\"subscription_id\":\"s-1\"}",
            "{\"type\":\"ping\",\"request_id\":\"r3\"}");

    // ---- each message type ----

    @Test
    void auth() {
        ClientRequest r = ClientRequest.parse("{\"type\":\"auth\",\"api_key\":\"cdc_secret\"}");

        assertThat(r).isInstanceOf(ClientRequest.Auth.class);
        ClientRequest.Auth auth = (ClientRequest.Auth) r;
        assertThat(auth.apiKey()).isEqualTo("cdc_secret");
        assertThat(auth.requestId()).isEmpty();
        assertThat(auth.toString()).doesNotContain("cdc_secret");
    }

    @Test
    void subscribeWithTables() {
        ClientRequest r = ClientRequest.parse(
                "{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"orders\",\"*\"]}");

        assertThat(r).isEqualTo(new ClientRequest.Subscribe(Optional.of("r1"), Optional.of(List.of("orders", "*")),
                                                            Optional.empty(), Optional.empty(), Optional.empty()));
    }

    @Test
    void subscribeWithEveryOptionalField() {
        ClientRequest r = ClientRequest.parse("{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"t\"],"
                                                      + "\"resume_from\":\"" + CURSOR + "\",\"subscription_id\":\"s-9\"}");

        assertThat(r).isEqualTo(new ClientRequest.Subscribe(Optional.of("r1"), Optional.of(List.of("t")),
                                                            Cursor.decode(CURSOR), Optional.of("s-9"),
                                                            Optional.empty()));
    }

    @Test
    void subscribeNeedsTablesOrASubscriptionId() {
        assertThat(ClientRequest.parse("{\"type\":\"subscribe\",\"subscription_id\":\"s-1\"}"))
                .isEqualTo(new ClientRequest.Subscribe(Optional.empty(), Optional.empty(), Optional.empty(),
                                                       Optional.of("s-1"), Optional.empty()));
        ClientRequest neither = ClientRequest.parse("{\"type\":\"subscribe\",\"request_id\":\"r1\"}");
        assertInvalid(neither);
        assertThat(neither.requestId()).contains("r1");
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":null}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":null,\"subscription_id\":null}"));
    }

    @Test
    void subscribeChecksTableNames() {
        for (String tables : List.of("[]", "[\"\"]", "[\"bad name\"]", "[\"orders\",\"x;drop\"]",
                                     "[\"" + "t".repeat(129) + "\"]")) {
            ClientRequest r = ClientRequest.parse("{\"type\":\"subscribe\",\"request_id\":\"r4\",\"tables\":" + tables + "}");
            assertInvalid(r);
            assertThat(r.requestId()).as(tables).contains("r4");
        }
        // also with a subscription id: the tables named must still be names
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"subscription_id\":\"s-1\",\"tables\":[]}"));
        assertThat(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":[\"*\",\"public.orders\"]}"))
                .isInstanceOf(ClientRequest.Subscribe.class);
    }

    @Test
    void subscribeChecksTheCursor() {
        for (String notACursor : List.of("", "CUR", CURSOR + "A", CURSOR.substring(1), "AQID")) {
            ClientRequest r = ClientRequest.parse("{\"type\":\"subscribe\",\"request_id\":\"r5\",\"tables\":[\"t\"],"
                                                          + "\"resume_from\":\"" + notACursor + "\"}");
            assertInvalid(r);
            assertThat(r.requestId()).contains("r5");
            assertThat(((ClientRequest.Invalid) r).message()).contains("resume_from");
        }
    }

    @Test
    void unsubscribe() {
        assertThat(ClientRequest.parse("{\"type\":\"unsubscribe\",\"request_id\":\"r2\",\"subscription_id\":\"s-1\"}"))
                .isEqualTo(new ClientRequest.Unsubscribe(Optional.of("r2"), "s-1"));
    }

    @Test
    void ping() {
        assertThat(ClientRequest.parse("{\"type\":\"ping\",\"request_id\":\"r3\"}"))
                .isEqualTo(new ClientRequest.Ping(Optional.of("r3")));
        assertThat(ClientRequest.parse("{\"type\":\"ping\"}")).isEqualTo(new ClientRequest.Ping(Optional.empty()));
    }

    @Test
    void unknownFieldsAreIgnoredAndWhitespaceIsFine() {
        assertThat(ClientRequest.parse(" \n{ \"extra\" : {\"a\":[1,2,{}]}, \"type\" : \"ping\" }\t\r\n "))
                .isEqualTo(new ClientRequest.Ping(Optional.empty()));
    }

    // ---- what is not a request ----

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "\n", "{", "}", "{\"type\":", "{\"type\":\"ping\"", "{type:\"ping\"}",
            "{'type':'ping'}", "{\"type\":\"ping\",}", "{\"type\":\"ping\" \"request_id\":\"r\"}", "nope",
            "{\"type\":\"ping\"}}", "\u0000", "{\"type\":\"ping\"/*c*/}", "{\"type\":\"pi\u0000ng\"}",
            "{\"type\":\"ping\",\"n\":NaN}", "{\"type\":\"ping\",\"n\":01}"})
    void malformedJsonIsInvalid(String text) {
        assertInvalid(ClientRequest.parse(text));
    }

    @Test
    void nullTextIsInvalid() {
        assertInvalid(ClientRequest.parse(null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"[]", "[{\"type\":\"ping\"}]", "\"ping\"", "42", "-1.5", "true", "false", "null"})
    void nonObjectJsonIsInvalid(String text) {
        assertInvalid(ClientRequest.parse(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{\"type\":\"ping\"} x", "{\"type\":\"ping\"}{}", "{\"type\":\"ping\"}[]",
            "{\"type\":\"ping\"}{\"type\":\"ping\"}", "{\"type\":\"ping\"} 1", "{\"type\":\"ping\"}\"\""})
    void trailingGarbageIsInvalid(String text) {
        assertInvalid(ClientRequest.parse(text));
    }

    @Test
    void missingOrWrongTypedTypeIsInvalid() {
        assertInvalid(ClientRequest.parse("{}"));
        assertInvalid(ClientRequest.parse("{\"request_id\":\"r\"}"));
        assertInvalid(ClientRequest.parse("{\"type\":null}"));
        assertInvalid(ClientRequest.parse("{\"type\":1}"));
        assertInvalid(ClientRequest.parse("{\"type\":[\"ping\"]}"));
        assertInvalid(ClientRequest.parse("{\"type\":{\"name\":\"ping\"}}"));
        assertInvalid(ClientRequest.parse("{\"type\":true}"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"Ping", "PING", "ping ", "", "subscribed", "pong", "auth_ok", "cdc_event", "error"})
    void unknownTypesAreInvalidAndKeepTheRequestId(String type) {
        ClientRequest r = ClientRequest.parse("{\"type\":\"" + type + "\",\"request_id\":\"r7\"}");

        assertInvalid(r);
        assertThat(r.requestId()).as("the error can answer the request").contains("r7");
    }

    @Test
    void authNeedsAStringKey() {
        assertInvalid(ClientRequest.parse("{\"type\":\"auth\"}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"auth\",\"api_key\":null}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"auth\",\"api_key\":123}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"auth\",\"api_key\":[\"k\"]}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"auth\",\"apiKey\":\"k\"}"));
    }

    @Test
    void subscribeFieldsMustHaveTheirTypes() {
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":\"orders\"}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":{\"0\":\"orders\"}}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":[\"orders\",1]}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":[\"orders\",null]}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":[[\"orders\"]]}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":[\"t\"],\"resume_from\":5}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":[\"t\"],\"resume_from\":{}}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"subscription_id\":7}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"subscribe\",\"subscription_id\":[\"s-1\"]}"));
    }

    @Test
    void unsubscribeNeedsAStringSubscriptionId() {
        assertInvalid(ClientRequest.parse("{\"type\":\"unsubscribe\",\"request_id\":\"r\"}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"unsubscribe\",\"subscription_id\":null}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"unsubscribe\",\"subscription_id\":12}"));
        ClientRequest r = ClientRequest.parse("{\"type\":\"unsubscribe\",\"request_id\":\"r9\"}");
        assertThat(r.requestId()).contains("r9");
        assertThat(((ClientRequest.Invalid) r).message()).contains("subscription_id");
    }

    @Test
    void anInvalidFieldNamesTheFieldAndKeepsTheRequestId() {
        ClientRequest r = ClientRequest.parse("{\"type\":\"subscribe\",\"request_id\":\"r5\",\"tables\":\"x\"}");

        assertInvalid(r);
        assertThat(r.requestId()).contains("r5");
        assertThat(((ClientRequest.Invalid) r).message()).contains("tables");
    }

    // ---- request_id ----

    @Test
    void requestIdMustBeAStringOfAtMost128Characters() {
        assertThat(ClientRequest.parse("{\"type\":\"ping\",\"request_id\":\"" + "r".repeat(128) + "\"}"))
                .isEqualTo(new ClientRequest.Ping(Optional.of("r".repeat(128))));

        ClientRequest tooLong = ClientRequest.parse("{\"type\":\"ping\",\"request_id\":\"" + "r".repeat(129) + "\"}");
        assertInvalid(tooLong);
        assertThat(tooLong.requestId()).as("not echoed: it is not a valid request id").isEmpty();

        for (String bad : List.of("1", "1.5", "true", "[\"r\"]", "{\"id\":\"r\"}")) {
            ClientRequest r = ClientRequest.parse("{\"type\":\"ping\",\"request_id\":" + bad + "}");
            assertInvalid(r);
            assertThat(r.requestId()).as(bad).isEmpty();
        }
        assertThat(ClientRequest.parse("{\"type\":\"ping\",\"request_id\":null}"))
                .isEqualTo(new ClientRequest.Ping(Optional.empty()));
        assertThat(ClientRequest.parse("{\"type\":\"ping\",\"request_id\":\"\"}"))
                .isEqualTo(new ClientRequest.Ping(Optional.of("")));
    }

    @Test
    void requestIdKeepsEscapedCharacters() {
        assertThat(ClientRequest.parse("{\"type\":\"ping\",\"request_id\":\"a\\\"b\\\\c\\u00e9\\n\"}"))
                .isEqualTo(new ClientRequest.Ping(Optional.of("a\"b\\c\u00e9\n")));
    }

    // ---- hostile frames stay cheap and never throw ----

    @Test
    void deepNestingIsInvalidNotAStackOverflow() {
        for (int depth : new int[] {100, 1_000, 50_000}) {
            String nested = "[".repeat(depth) + "]".repeat(depth);
            assertInvalid(ClientRequest.parse("{\"type\":\"ping\",\"x\":" + nested + "}"));
            assertInvalid(ClientRequest.parse(nested));
            String objects = "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
            assertInvalid(ClientRequest.parse(objects));
        }
        // modest nesting in an ignored field is fine
        assertThat(ClientRequest.parse("{\"type\":\"ping\",\"x\":" + "[".repeat(10) + "]".repeat(10) + "}"))
                .isEqualTo(new ClientRequest.Ping(Optional.empty()));
    }

    @Test
    void hugeStringsAreInvalidOrParsedButNeverThrow() {
        assertInvalid(ClientRequest.parse("{\"type\":\"auth\",\"api_key\":\"" + "k".repeat(1_000_000) + "\"}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"ping\",\"x\":\"" + "k".repeat(200_000) + "\"}"));
        assertInvalid(ClientRequest.parse("{\"type\":\"ping\",\"n\":" + "9".repeat(10_000) + "}"));
        assertInvalid(ClientRequest.parse("{\"" + "k".repeat(200_000) + "\":1,\"type\":\"ping\"}"));
        // a frame within the 64 KiB limit still parses
        ClientRequest big = ClientRequest.parse("{\"type\":\"auth\",\"api_key\":\"" + "k".repeat(60_000) + "\"}");
        assertThat(big).isInstanceOf(ClientRequest.Auth.class);
    }

    @Test
    void manyFieldsOrTablesStillParse() {
        StringBuilder tables = new StringBuilder("[");
        for (int i = 0; i < 2_000; i++) {
            tables.append(i == 0 ? "" : ",").append("\"t").append(i).append('"');
        }
        tables.append(']');
        ClientRequest r = ClientRequest.parse("{\"type\":\"subscribe\",\"tables\":" + tables + "}");
        assertThat(r).isInstanceOf(ClientRequest.Subscribe.class);
        assertThat(((ClientRequest.Subscribe) r).tables().orElseThrow()).hasSize(2_000);
    }

    @Property(tries = 3000)
    void randomTextNeverThrows(@ForAll String text) {
        checkWellFormed(ClientRequest.parse(text));
    }

    @Property(tries = 3000)
    void randomJsonishTextNeverThrows(@ForAll("jsonish") String text) {
        checkWellFormed(ClientRequest.parse(text));
    }

    @Property(tries = 5000)
    void mutatedValidFramesNeverThrow(@ForAll("mutatedFrames") String text) {
        checkWellFormed(ClientRequest.parse(text));
    }

    @Property(tries = 1000)
    void validFramesWithRandomValuesParse(@ForAll("anyString") String requestId, @ForAll("anyString") String value) {
        String rid = quote(requestId);
        ClientRequest ping = ClientRequest.parse("{\"type\":\"ping\",\"request_id\":" + rid + "}");
        ClientRequest unsub = ClientRequest.parse(
                "{\"type\":\"unsubscribe\",\"request_id\":" + rid + ",\"subscription_id\":" + quote(value) + "}");
        if (requestId.length() <= 128) {
            assertThat(ping).isEqualTo(new ClientRequest.Ping(Optional.of(requestId)));
            assertThat(unsub).isEqualTo(new ClientRequest.Unsubscribe(Optional.of(requestId), value));
        } else {
            assertInvalid(ping);
            assertInvalid(unsub);
        }
    }

    // ---- helpers ----

    // ---- the SSE query: the same request in other words ----

    @Test
    void aStreamQueryIsASubscribeRequest() {
        assertThat(stream("orders,public.items", null, CURSOR, "INSERT", "{\"status\":\"paid\"}"))
                .isInstanceOfSatisfying(ClientRequest.Subscribe.class, s -> {
                    assertThat(s.requestId()).isEmpty();
                    assertThat(s.tables()).contains(List.of("orders", "public.items"));
                    assertThat(s.resumeFrom()).isEqualTo(Cursor.decode(CURSOR));
                    assertThat(s.subscriptionId()).isEmpty();
                    assertThat(s.filter().map(Filter::toJson))
                            .contains("{\"operations\":[\"INSERT\"],\"filter\":{\"status\":\"paid\"}}");
                });
        assertThat(stream(null, "s-1", null, null, null)).isEqualTo(new ClientRequest.Subscribe(
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.of("s-1"), Optional.empty()));
    }

    @Test
    void aStreamQueryNeedsExactlyOneOfTablesAndSubscriptionId() {
        assertInvalid(stream(null, null, null, null, null), "exactly one of tables and subscription_id");
        assertInvalid(stream("orders", "s-1", null, null, null), "exactly one of tables and subscription_id");
    }

    @Test
    void aStreamQueryChecksTablesCursorAndFilterAsAMessageDoes() {
        for (String tables : List.of("", "orders,", "bad name", "t".repeat(129))) {
            assertInvalid(stream(tables, null, null, null, null), "table");
        }
        for (String notACursor : List.of("CUR", CURSOR + "A", CURSOR.substring(1), "AQID")) {
            assertInvalid(stream("orders", null, notACursor, null, null), "the cursor is not one this service issued");
        }
        assertInvalid(stream("orders", null, null, "INSERT,TRUNCATE", null), "operations");
        assertInvalid(stream("orders", null, null, null, "{\"status\":"), "filter must be a JSON object");
        assertInvalid(stream("orders", null, null, null, "[1]"), "filter must be an object");
        assertInvalid(stream("orders", null, null, null, "{\"a\":{\"gt\":1}}"), "a condition on a");
    }

    private static ClientRequest stream(String tables, String subscriptionId, String cursor, String operations,
                                        String filter) {
        return ClientRequest.parseStream(Optional.ofNullable(tables), Optional.ofNullable(subscriptionId),
                                         Optional.ofNullable(cursor), Optional.ofNullable(operations),
                                         Optional.ofNullable(filter));
    }

    private static void assertInvalid(ClientRequest r, String messagePart) {
        assertThat(r).isInstanceOfSatisfying(ClientRequest.Invalid.class,
                                             i -> assertThat(i.message()).contains(messagePart));
    }

    private static void assertInvalid(ClientRequest r) {
        assertThat(r).isInstanceOf(ClientRequest.Invalid.class);
        assertThat(((ClientRequest.Invalid) r).message()).isNotBlank();
    }

    /** What the endpoint relies on, whatever came in. */
    private static void checkWellFormed(ClientRequest r) {
        assertThat(r).isNotNull();
        assertThat(r.requestId()).isNotNull();
        r.requestId().ifPresent(id -> assertThat(id.length()).isLessThanOrEqualTo(128));
        switch (r) {
            case ClientRequest.Auth a -> assertThat(a.apiKey()).isNotNull();
            case ClientRequest.Subscribe s -> {
                assertThat(s.tables().isPresent() || s.subscriptionId().isPresent()).isTrue();
                s.tables().ifPresent(t -> assertThat(TableNames.problem(t)).isEmpty());
                s.resumeFrom().ifPresent(c -> assertThat(Cursor.decode(c.encode())).contains(c));
            }
            case ClientRequest.Unsubscribe u -> assertThat(u.subscriptionId()).isNotNull();
            case ClientRequest.Ping p -> {
            }
            case ClientRequest.Invalid i -> assertThat(i.message()).isNotBlank();
        }
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    @Provide
    Arbitrary<String> anyString() {
        return Arbitraries.strings().ofMaxLength(200);
    }

    @Provide
    Arbitrary<String> jsonish() {
        return Arbitraries.strings().withChars("{}[]\":,  truefalsnl0123456789.-eE\\uabcdtypeingsubcr_")
                .ofMaxLength(80);
    }

    @Provide
    Arbitrary<String> mutatedFrames() {
        Arbitrary<String> frames = Arbitraries.of(VALID_FRAMES);
        Arbitrary<Integer> positions = Arbitraries.integers().between(0, 10_000);
        Arbitrary<Character> chars = Arbitraries.oneOf(Arbitraries.chars().with("{}[]\":,\\ 0n-".toCharArray()),
                                                       Arbitraries.chars());
        Arbitrary<Integer> kinds = Arbitraries.integers().between(0, 4);
        Arbitrary<List<Mutation>> mutations = Combinators.combine(kinds, positions, chars).as(Mutation::new)
                .list().ofMinSize(1).ofMaxSize(4);
        return Combinators.combine(frames, mutations).as((frame, ms) -> {
            String s = frame;
            for (Mutation m : ms) {
                s = m.apply(s);
            }
            return s;
        });
    }

    private record Mutation(int kind, int position, char c) {
        String apply(String s) {
            if (s.isEmpty()) {
                return String.valueOf(c);
            }
            int i = position % s.length();
            return switch (kind) {
                case 0 -> s.substring(0, i) + c + s.substring(i + 1);          // replace
                case 1 -> s.substring(0, i) + s.substring(i + 1);              // delete
                case 2 -> s.substring(0, i) + c + s.substring(i);              // insert
                case 3 -> s.substring(0, i);                                   // truncate
                default -> s.substring(0, i) + s.substring(i / 2, i) + s.substring(i); // duplicate a slice
            };
        }
    }
}
