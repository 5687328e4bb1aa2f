package io.cdcnotify.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
import io.cdcnotify.wire.Timestamps;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** Error bodies, close reasons and the encoded event: what clients read. */
class ErrorsAndDisconnectsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    // ---- ErrorCode ----

    @Test
    void codesAndStatusesAreTheContracts() {
        Map<ErrorCode, Integer> status = Map.of(
                ErrorCode.BAD_REQUEST, 400, ErrorCode.UNAUTHORIZED, 401, ErrorCode.FORBIDDEN, 403,
                ErrorCode.NOT_FOUND, 404, ErrorCode.RESUME_UNAVAILABLE, 410, ErrorCode.LIMIT_EXCEEDED, 429,
                ErrorCode.INTERNAL, 500);
        status.forEach((code, http) -> assertThat(code.httpStatus()).as(code.name()).isEqualTo(http));
        assertThat(List.of(ErrorCode.values())).extracting(ErrorCode::wire).containsExactlyInAnyOrder(
                "unauthorized", "forbidden", "bad_request", "not_found", "limit_exceeded", "resume_unavailable",
                "slow_consumer", "internal");
    }

    @Test
    void bodyIsJsonWithCodeAndMessage() throws Exception {
        JsonNode body = JSON.readTree(ErrorCode.NOT_FOUND.body("no such subscription"));

        assertThat(body.size()).isEqualTo(2);
        assertThat(body.get("code").asText()).isEqualTo("not_found");
        assertThat(body.get("message").asText()).isEqualTo("no such subscription");
    }

    @Test
    void bodyEscapesEverythingJsonNeedsEscaped() throws Exception {
        String nasty = "quote \" backslash \\ newline \n tab \t cr \r nul \u0000 bell \u0007 "
                + "unicode \u00e9\u4e2d\ud83d\ude00 line-sep \u2028 </script>";
        String body = ErrorCode.BAD_REQUEST.body(nasty);

        assertThat(body).doesNotContain("\n").doesNotContain("\u0000");
        assertThat(JSON.readTree(body).get("message").asText()).isEqualTo(nasty);
    }

    @Property(tries = 1000)
    void bodyRoundTripsAnyMessage(@ForAll String message) throws Exception {
        for (ErrorCode code : ErrorCode.values()) {
            JsonNode body = JSON.readTree(code.body(message));
            assertThat(body.get("code").asText()).isEqualTo(code.wire());
            assertThat(body.get("message").asText()).isEqualTo(message);
        }
    }

    // ---- Disconnect ----

    @Test
    void slowConsumerCarriesTheCursorInItsReasonWhenItFits() {
        String cursor = new Cursor(123_456_789, 987_654_321, new long[] {123_456_700}).encode();
        Disconnect d = Disconnect.slowConsumer(Optional.of(cursor));

        assertThat(d.code()).isEqualTo(4408);
        assertThat(d.reason()).isEqualTo(cursor);
        Message.Error error = d.error().orElseThrow();
        assertThat(error.code()).isEqualTo(ErrorCode.SLOW_CONSUMER);
        assertThat(error.cursor()).contains(cursor);
        assertThat(error.requestId()).isEmpty();
        assertThat(error.message()).isNotBlank();
    }

    @Test
    void slowConsumerReasonFallsBackWhenTheCursorIsTooLongForACloseFrame() {
        String exactly = "A".repeat(123);
        String tooLong = "A".repeat(124);

        assertThat(Disconnect.slowConsumer(Optional.of(exactly)).reason()).isEqualTo(exactly);
        Disconnect d = Disconnect.slowConsumer(Optional.of(tooLong));
        assertThat(d.reason()).as("never a truncated cursor")
                .satisfiesAnyOf(r -> assertThat(r).isEmpty(), r -> assertThat(tooLong).doesNotStartWith(r));
        assertThat(d.error().orElseThrow().cursor()).as("the error still carries it").contains(tooLong);

        long[] many = java.util.stream.LongStream.rangeClosed(1, 60).map(i -> i * 1_000_003).toArray();
        String longCursor = new Cursor(999_999_999_999L, 5, many).encode();
        assertThat(longCursor.length()).isGreaterThan(123);
        assertThat(Disconnect.slowConsumer(Optional.of(longCursor)).reason())
                .satisfiesAnyOf(r -> assertThat(r).isEmpty(), r -> assertThat(longCursor).doesNotStartWith(r));
    }

    @Test
    void slowConsumerWithNothingWrittenHasANullCursor() {
        Disconnect d = Disconnect.slowConsumer(Optional.empty());

        assertThat(d.code()).isEqualTo(4408);
        assertThat(d.reason().getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(123);
        assertThat(Cursor.decode(d.reason())).as("no cursor in the reason").isEmpty();
        assertThat(d.error().orElseThrow().cursor()).isEmpty();
        assertThat(d.error().orElseThrow().carriesCursor()).as("present, and null").isTrue();
    }

    @Test
    void shutdownCarriesTheLastCursorWhenItFits() {
        String cursor = new Cursor(5, 6, new long[0]).encode();
        assertThat(Disconnect.shutdown(Optional.of(cursor))).isEqualTo(new Disconnect(1001, cursor, Optional.empty()));
        assertThat(Disconnect.shutdown(Optional.empty()).code()).isEqualTo(1001);
        assertThat(Disconnect.shutdown(Optional.empty()).reason()).isEqualTo(Disconnect.SHUTDOWN.reason());
        assertThat(Disconnect.shutdown(Optional.of("A".repeat(124))).reason()).isEqualTo(Disconnect.SHUTDOWN.reason());
        assertThat(Disconnect.shutdown(Optional.of(cursor)).error()).isEmpty();
    }

    @Test
    void closeCodesAreTheContracts() {
        assertThat(Disconnect.unauthorized("x").code()).isEqualTo(4401);
        assertThat(Disconnect.unauthorized("x").error().orElseThrow().code()).isEqualTo(ErrorCode.UNAUTHORIZED);
        assertThat(Disconnect.revoked("x").code()).isEqualTo(4403);
        assertThat(Disconnect.tooManyBadRequests().code()).isEqualTo(4400);
        assertThat(Disconnect.tooManyBadRequests().error()).as("its bad_request went out on its own").isEmpty();
        assertThat(Disconnect.limit("too many").code()).isEqualTo(4429);
        assertThat(Disconnect.SHUTDOWN.code()).isEqualTo(1001);
        assertThat(Disconnect.internal().error().orElseThrow().code()).isEqualTo(ErrorCode.INTERNAL);
        assertThat(Disconnect.subscriptionGone("s-1").error().orElseThrow().code()).isEqualTo(ErrorCode.NOT_FOUND);
        assertThat(Disconnect.GONE.error()).isEmpty();
    }

    @Test
    void everyFixedReasonFitsInACloseFrame() {
        for (Disconnect d : List.of(Disconnect.GONE, Disconnect.SHUTDOWN, Disconnect.unauthorized("m"),
                                    Disconnect.revoked("m"), Disconnect.tooManyBadRequests(),
                                    Disconnect.subscriptionGone("s-0123456789abcdef"), Disconnect.internal(),
                                    Disconnect.slowConsumer(Optional.empty()))) {
            assertThat(d.reason().getBytes(StandardCharsets.UTF_8).length).as(d.toString()).isLessThanOrEqualTo(123);
        }
    }

    // ---- the event JSON ----

    @Test
    void anEventIsTheContractsJsonOnOneLine() throws Exception {
        Cursor cursor = new Cursor(77, 1234, new long[] {70});
        OutboxEvent e = new OutboxEvent(1234, 77, "or\"ders", "UPDATE", "{\"id\": 42, \"status\": \"shipped\"}",
                                        1_795_608_000_120_000L, cursor);
        Publication p = new Publication(e);

        JsonNode json = JSON.readTree(p.json());
        assertThat(p.json()).doesNotContain("\n");
        assertThat(json.get("id").asText()).isEqualTo("1234");
        assertThat(json.get("id").isTextual()).isTrue();
        assertThat(json.get("cursor").asText()).isEqualTo(cursor.encode()).isEqualTo(p.cursor());
        assertThat(json.get("table").asText()).isEqualTo("or\"ders");
        assertThat(json.get("operation").asText()).isEqualTo("UPDATE");
        assertThat(json.get("payload").get("status").asText()).isEqualTo("shipped");
        assertThat(json.get("created_at").asText()).isEqualTo("2026-11-25T12:00:00.120000Z");
        assertThat(Cursor.decode(p.cursor())).contains(cursor);
    }

    @Test
    void createdAtAlwaysHasSixDigitsAndZ() {
        for (long micros : new long[] {0, 1, 999_999, 1_000_000, 1_795_608_000_000_000L, -1, -1_000_001}) {
            OutboxEvent e = new OutboxEvent(1, 1, "t", "INSERT", "1", micros, new Cursor(1, 1, new long[0]));
            assertThat(Timestamps.format(e.createdAt())).as("%d", micros).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z");
        }
        OutboxEvent e = new OutboxEvent(1, 1, "t", "INSERT", "1", 1_000_001, new Cursor(1, 1, new long[0]));
        assertThat(Timestamps.format(e.createdAt())).isEqualTo("1970-01-01T00:00:01.000001Z");
        OutboxEvent before = new OutboxEvent(1, 1, "t", "INSERT", "1", -1, new Cursor(1, 1, new long[0]));
        assertThat(Timestamps.format(before.createdAt())).isEqualTo("1969-12-31T23:59:59.999999Z");
    }

    @Test
    void theSseFrameIsOneMessageWithTheCursorAsItsId() {
        Publication p = new Publication(HubFixtures.event(5, "orders"));

        String frame = new String(p.sseFrame(), StandardCharsets.UTF_8);

        assertThat(frame).isEqualTo("id: " + p.cursor() + "\nevent: cdc_event\ndata: " + p.json() + "\n\n");
        assertThat(frame.split("\n", -1)).hasSize(5);
    }
}
