package io.cdcnotify.api;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.wire.ClientRequest;
import io.cdcnotify.wire.Filter;
import io.cdcnotify.wire.Json;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every path a client's JSON comes in by — a WebSocket message, a REST body, the SSE {@code filter} parameter —
 * reads it by the same rules ({@link Json#readClientInput}): the same limits, trailing tokens refused, the last of
 * a repeated key counts. Each input below is one JSON object text, given to all three paths.
 */
class ClientInputTest {

    private static final Map<String, Predicate<String>> PATHS = Map.of(
            "websocket message", ClientInputTest::websocketReadsIt,
            "REST body", ClientInputTest::restReadsIt,
            "SSE filter parameter", ClientInputTest::sseReadsIt);

    @Test
    void validJsonIsReadEverywhere() {
        assertAllRead(true, "{\"type\":\"ping\"}");
        assertAllRead(true, " {\"type\" : \"ping\"}\n\t ");
    }

    @Test
    void trailingTokensAreRefusedEverywhere() {
        for (String text : List.of("{\"type\":\"ping\"} x", "{\"type\":\"ping\"}{}", "{\"type\":\"ping\"}]",
                                   "{\"type\":\"ping\"} 1", "{\"type\":\"ping\"} \"s\"", "{\"type\":\"ping\"} null")) {
            assertAllRead(false, text);
        }
    }

    @Test
    void nestingIsLimitedAlikeEverywhere() {
        // the object itself is level 1
        assertAllRead(true, withField("[".repeat(Json.MAX_DEPTH - 1) + "]".repeat(Json.MAX_DEPTH - 1)));
        assertAllRead(false, withField("[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH)));
    }

    @Test
    void stringsAreLimitedAlikeEverywhere() {
        assertAllRead(true, withField("\"" + "s".repeat(Json.MAX_STRING_LENGTH) + "\""));
        assertAllRead(false, withField("\"" + "s".repeat(Json.MAX_STRING_LENGTH + 1) + "\""));
    }

    @Test
    void numbersAreLimitedAlikeEverywhere() {
        assertAllRead(true, withField("1".repeat(Json.MAX_NUMBER_LENGTH)));
        assertAllRead(false, withField("1".repeat(Json.MAX_NUMBER_LENGTH + 1)));
    }

    @Test
    void theLastOfARepeatedKeyCountsEverywhere() {
        ClientRequest ws = ClientRequest.parse("{\"type\":\"auth\",\"api_key\":\"first\",\"api_key\":\"last\"}");
        assertThat(ws).isInstanceOfSatisfying(ClientRequest.Auth.class, a -> assertThat(a.apiKey()).isEqualTo("last"));

        JsonNode rest = Rest.object(bytes("{\"name\":\"first\",\"name\":\"last\"}"));
        assertThat(rest.get("name").asText()).isEqualTo("last");

        ClientRequest sse = stream("{\"status\":\"first\",\"status\":\"last\"}");
        assertThat(sse).isInstanceOfSatisfying(ClientRequest.Subscribe.class, s -> assertThat(
                s.filter().map(Filter::toJson)).contains("{\"filter\":{\"status\":\"last\"}}"));
    }

    @Test
    void anEmptyInputIsNoObjectAnywhere() {
        assertThat(ClientRequest.parse("")).isInstanceOf(ClientRequest.Invalid.class);
        assertThat(refusal(() -> Rest.object(new byte[0]))).contains("the body must be a JSON object");
        assertThat(stream("")).isInstanceOfSatisfying(ClientRequest.Invalid.class, i -> assertThat(i.message())
                .startsWith("filter must be an object"));
    }

    // ---- the three paths: true when the text was read as JSON (whatever the request then made of it) ----

    private static boolean websocketReadsIt(String text) {
        return !(ClientRequest.parse(text) instanceof ClientRequest.Invalid i && i.message().equals("malformed JSON"));
    }

    private static boolean restReadsIt(String text) {
        return !refusal(() -> Rest.object(bytes(text))).equals(Optional.of("the body is not valid JSON"));
    }

    private static boolean sseReadsIt(String text) {
        return !(stream(text) instanceof ClientRequest.Invalid i && i.message().equals("filter must be a JSON object"));
    }

    private static ClientRequest stream(String filter) {
        return ClientRequest.parseStream(Optional.of("orders"), Optional.empty(), Optional.empty(), Optional.empty(),
                                         Optional.of(filter));
    }

    private static Optional<String> refusal(Runnable read) {
        try {
            read.run();
            return Optional.empty();
        } catch (Rest.BadField e) {
            return Optional.of(e.getMessage());
        }
    }

    private static String withField(String value) {
        return "{\"type\":\"ping\",\"n\":" + value + "}";
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static void assertAllRead(boolean read, String text) {
        PATHS.forEach((path, reads) -> assertThat(reads.test(text))
                .as("%s reads %.60s", path, text).isEqualTo(read));
    }
}
