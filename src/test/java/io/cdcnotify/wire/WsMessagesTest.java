package io.cdcnotify.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

/** Server → client frames of contract section 4: each is JSON with {@code "v":1} and its type. */
class WsMessagesTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The bytes a WebSocket writer puts together from shared parts are the text's UTF-8, whatever the JSON holds. */
    @Property
    void putEventWritesTheEventTextsUtf8(@ForAll String payload, @ForAll("ids") String subscriptionId) {
        String json = "{\"payload\":\"" + payload.replace("\\", "\\\\").replace("\"", "\\\"") + "\"}";
        byte[] id = subscriptionId.getBytes(StandardCharsets.UTF_8);
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        byte[] to = new byte[3 + WsMessages.eventLength(id, bytes) + 2];
        WsMessages.putEvent(to, 3, id, bytes);
        byte[] expected = WsMessages.event(subscriptionId, json).getBytes(StandardCharsets.UTF_8);
        assertThat(WsMessages.eventLength(id, bytes)).isEqualTo(expected.length);
        assertThat(Arrays.copyOfRange(to, 3, 3 + expected.length)).isEqualTo(expected);
        assertThat(to[to.length - 1]).as("nothing written past it").isZero();
    }

    @Provide
    Arbitrary<String> ids() {
        return Arbitraries.strings().withCharRange('a', 'z').numeric().withChars('-', 'é')
                .ofMinLength(1).ofMaxLength(40);
    }

    @Test
    void authOk() throws Exception {
        JsonNode o = parse(WsMessages.encode(new Message.AuthOk("c-0123456789abcdef")));
        assertThat(o.get("v").asInt()).isEqualTo(1);
        assertThat(o.get("type").asText()).isEqualTo("auth_ok");
        assertThat(o.get("connection_id").asText()).isEqualTo("c-0123456789abcdef");
        assertThat(o.has("request_id")).isFalse();
    }

    @Test
    void subscribed() throws Exception {
        JsonNode o = parse(WsMessages.encode(new Message.Subscribed(Optional.of("r1"), "s-1", List.of("orders", "*"))));
        assertThat(o.get("type").asText()).isEqualTo("subscribed");
        assertThat(o.get("request_id").asText()).isEqualTo("r1");
        assertThat(o.get("subscription_id").asText()).isEqualTo("s-1");
        assertThat(o.get("tables").isArray()).isTrue();
        assertThat(o.get("tables").get(0).asText()).isEqualTo("orders");
        assertThat(o.get("tables").get(1).asText()).isEqualTo("*");
    }

    @Test
    void unsubscribedWithAndWithoutARequest() throws Exception {
        JsonNode answer = parse(WsMessages.encode(new Message.Unsubscribed(Optional.of("r2"), "s-1")));
        assertThat(answer.get("type").asText()).isEqualTo("unsubscribed");
        assertThat(answer.get("request_id").asText()).isEqualTo("r2");

        JsonNode told = parse(WsMessages.encode(new Message.Unsubscribed(Optional.empty(), "s-1")));
        assertThat(told.has("request_id")).isFalse();
        assertThat(told.get("subscription_id").asText()).isEqualTo("s-1");
    }

    @Test
    void pong() throws Exception {
        JsonNode o = parse(WsMessages.encode(new Message.Pong(Optional.of("r3"))));
        assertThat(o.get("type").asText()).isEqualTo("pong");
        assertThat(o.get("request_id").asText()).isEqualTo("r3");
    }

    @Test
    void errors() throws Exception {
        JsonNode plain = parse(WsMessages.encode(Message.Error.answering(Optional.of("r1"), ErrorCode.BAD_REQUEST, "bad")));
        assertThat(plain.get("type").asText()).isEqualTo("error");
        assertThat(plain.get("code").asText()).isEqualTo("bad_request");
        assertThat(plain.get("message").asText()).isEqualTo("bad");
        assertThat(plain.get("request_id").asText()).isEqualTo("r1");
        assertThat(plain.has("cursor")).as("only slow_consumer carries a cursor").isFalse();

        JsonNode slow = parse(WsMessages.encode(new Message.Error(Optional.empty(), ErrorCode.SLOW_CONSUMER, "slow",
                                                                   Optional.of("CUR"))));
        assertThat(slow.get("cursor").asText()).isEqualTo("CUR");

        JsonNode nothingYet = parse(WsMessages.encode(new Message.Error(Optional.empty(), ErrorCode.SLOW_CONSUMER,
                                                                         "slow", Optional.empty())));
        assertThat(nothingYet.has("cursor")).as("present...").isTrue();
        assertThat(nothingYet.get("cursor").isNull()).as("...and null").isTrue();
    }

    @Property(tries = 500)
    void anyTextIsEscaped(@ForAll String text) throws Exception {
        JsonNode o = parse(WsMessages.encode(Message.Error.answering(Optional.of(text), ErrorCode.INTERNAL, text)));
        assertThat(o.get("message").asText()).isEqualTo(text);
        assertThat(o.get("request_id").asText()).isEqualTo(text);
    }

    @Test
    void anEventWrapsTheSharedEventJson() throws Exception {
        String eventJson = "{\"id\":\"1\",\"cursor\":\"C\",\"table\":\"t\",\"operation\":\"INSERT\",\"payload\":{},"
                + "\"created_at\":\"2026-11-25T12:00:00.000000Z\"}";
        String frame = WsMessages.event("s-1", eventJson);

        JsonNode o = parse(frame);
        assertThat(o.get("v").asInt()).isEqualTo(1);
        assertThat(o.get("type").asText()).isEqualTo("cdc_event");
        assertThat(o.get("subscription_id").asText()).isEqualTo("s-1");
        assertThat(o.get("event")).isEqualTo(parse(eventJson));
        assertThat(frame).contains(eventJson);
    }

    private static JsonNode parse(String text) throws Exception {
        return JSON.readTree(text);
    }
}
