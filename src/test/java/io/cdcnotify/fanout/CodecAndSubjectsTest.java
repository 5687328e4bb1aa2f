package io.cdcnotify.fanout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.EventJson;
import org.junit.jupiter.api.Test;

/** The stream's message body reads back into the same event, and table names make valid, distinct subjects. */
class CodecAndSubjectsTest {

    @Test
    void anEventReadBackFromItsJsonEncodesToTheSameBytes() {
        List<String> payloads = List.of("{\"a\": 1, \"b\": [1, null, \"x\"], \"c\": {\"d\": \"e\"}}",
                                        "\"a \\\"quoted\\\" string with , \\\"created_at\\\": inside\"",
                                        "12.50", "-3", "true", "null", "[]", "{}",
                                        "{\"payload\": {\"created_at\": \"2020-01-01T00:00:00.000000Z\"}}",
                                        "{\"ü\": \"\\u0000 and 😀\"}");
        long id = 1;
        for (String payload : payloads) {
            Cursor cursor = new Cursor(1000 + id, id, new long[] {3, 999});
            OutboxEvent event = new OutboxEvent(id, 1000 + id, "public.orders \"x\"", "UPDATE", payload,
                                                1_764_979_200_123_456L, cursor);
            String cursorText = cursor.encode();
            OutboxEvent back = EventCodec.decode(EventCodec.encode(event, cursorText));
            assertThat(back).isEqualTo(event);
            assertThat(EventJson.write(back, cursorText)).isEqualTo(EventJson.write(event, cursorText));
            id++;
        }
    }

    @Test
    void aMessageThatIsNotAnEventIsRefused() {
        assertThatThrownBy(() -> EventCodec.decode("{\"id\":\"1\"}".getBytes())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> EventCodec.decode("nope".getBytes())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void tableNamesBecomeSingleSubjectTokensWithoutCollisions() {
        Subjects subjects = new Subjects("cdc.events");
        assertThat(subjects.of("orders")).isEqualTo("cdc.events.orders");
        assertThat(subjects.of("public.orders")).isEqualTo("cdc.events.public-orders");
        assertThat(Subjects.token("a-b")).isEqualTo("a%2Db");
        assertThat(Subjects.token("a b*>")).isEqualTo("a%20b%2A%3E");
        assertThat(Subjects.token("ü")).isEqualTo("%C3%BC");
        List<String> names = List.of("a.b", "a-b", "a_b", "a%2Db", "a.b.c", "a-b.c", "");
        assertThat(names.stream().map(Subjects::token).toList()).doesNotHaveDuplicates()
                .allSatisfy(t -> assertThat(t).isNotEmpty().doesNotContain(".", "*", ">", " "));
    }

    @Test
    void natsCredentialsNeverReachAMessage() {
        assertThat(Relay.redacted("nats://user:secret@nats1:4222,nats://tok@nats2:4222,nats://nats3:4222"))
                .isEqualTo("nats://***@nats1:4222,nats://***@nats2:4222,nats://nats3:4222");
    }
}
