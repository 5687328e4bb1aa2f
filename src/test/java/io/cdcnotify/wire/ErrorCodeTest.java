package io.cdcnotify.wire;

import java.util.Arrays;
import java.util.Map;
import java.util.OptionalInt;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The error catalogue against the contract: sections 4 (codes, close codes) and 6 (HTTP statuses). */
class ErrorCodeTest {

    /** Contract section 6: the HTTP status of each code answering a request. */
    private static final Map<String, Integer> CONTRACT_STATUS = Map.of(
            "bad_request", 400, "unauthorized", 401, "forbidden", 403, "not_found", 404,
            "resume_unavailable", 410, "limit_exceeded", 429, "internal", 500,
            "slow_consumer", 503); // never answers a request: it ends a stream that is already open

    /** Contract section 4: the close code of a WebSocket each code ends, or none for an answer to one request. */
    private static final Map<String, OptionalInt> CONTRACT_CLOSE = Map.of(
            "unauthorized", OptionalInt.of(4401), "bad_request", OptionalInt.of(4400),
            "limit_exceeded", OptionalInt.of(4429), "slow_consumer", OptionalInt.of(4408),
            "internal", OptionalInt.of(1011),
            "forbidden", OptionalInt.empty(), "not_found", OptionalInt.empty(),
            "resume_unavailable", OptionalInt.empty());

    @Test
    void theCodesAreTheContractsEight() {
        assertThat(Arrays.stream(ErrorCode.values()).map(ErrorCode::wire).collect(Collectors.toSet()))
                .containsExactlyInAnyOrderElementsOf(CONTRACT_STATUS.keySet());
    }

    @Test
    void everyCodeHasTheContractsStatusAndCloseCode() {
        for (ErrorCode code : ErrorCode.values()) {
            assertThat(code.httpStatus()).as(code.wire()).isEqualTo(CONTRACT_STATUS.get(code.wire()));
            assertThat(code.closeCode()).as(code.wire()).isEqualTo(CONTRACT_CLOSE.get(code.wire()));
            code.closeCode().ifPresent(c -> assertThat(c).as("an application close code, or 1011")
                    .satisfiesAnyOf(x -> assertThat(x).isBetween(4000, 4999), x -> assertThat(x).isEqualTo(1011)));
        }
    }

    @Test
    void anHttpStatusMapsBackToItsCode() {
        for (ErrorCode code : ErrorCode.values()) {
            if (code != ErrorCode.SLOW_CONSUMER) {
                assertThat(ErrorCode.forHttpStatus(code.httpStatus())).isEqualTo(code);
            }
        }
        assertThat(ErrorCode.forHttpStatus(405)).isEqualTo(ErrorCode.BAD_REQUEST);
        assertThat(ErrorCode.forHttpStatus(413)).isEqualTo(ErrorCode.BAD_REQUEST);
        assertThat(ErrorCode.forHttpStatus(503)).isEqualTo(ErrorCode.INTERNAL);
        assertThat(ErrorCode.forHttpStatus(505)).isEqualTo(ErrorCode.INTERNAL);
    }

    @Test
    void theBodyIsTheContractsTwoFieldsWithTheMessageEscaped() throws Exception {
        String message = "a \"quoted\" \\ line\nwith \u0001 and é";
        for (ErrorCode code : ErrorCode.values()) {
            JsonNode body = Json.MAPPER.readTree(code.body(message));
            assertThat(body.size()).isEqualTo(2);
            assertThat(body.get("code").asText()).isEqualTo(code.wire());
            assertThat(body.get("message").asText()).isEqualTo(message);
        }
    }

    @Test
    void everyTransportWritesAnErrorWithTheSameFields() throws Exception {
        Message.Error plain = Message.Error.answering(java.util.Optional.of("r1"), ErrorCode.FORBIDDEN, "no");
        JsonNode ws = Json.MAPPER.readTree(WsMessages.encode(plain));
        JsonNode sse = Json.MAPPER.readTree(sseData(SseFrames.error(plain)));
        JsonNode http = Json.MAPPER.readTree(ErrorCode.FORBIDDEN.body("no"));
        assertThat(sse).isEqualTo(http);
        assertThat(ws.get("code")).isEqualTo(http.get("code"));
        assertThat(ws.get("message")).isEqualTo(http.get("message"));

        Message.Error slow = Message.Error.slowConsumer("slow", java.util.Optional.empty());
        assertThat(Json.MAPPER.readTree(WsMessages.encode(slow)).get("cursor").isNull()).isTrue();
        assertThat(Json.MAPPER.readTree(sseData(SseFrames.error(slow))).get("cursor").isNull()).isTrue();
    }

    private static String sseData(byte[] frame) {
        String text = new String(frame, java.nio.charset.StandardCharsets.UTF_8);
        assertThat(text).startsWith("event: error\ndata: ").endsWith("\n\n");
        return text.substring("event: error\ndata: ".length(), text.length() - 2);
    }
}
