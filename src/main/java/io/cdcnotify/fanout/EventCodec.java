package io.cdcnotify.fanout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;

/**
 * An event in the stream: its body is the contract's event JSON, exactly as clients get it, built once by the
 * leader. A consumer reads it back into the {@link OutboxEvent} its hub routes, keeping the payload's text as
 * written (PostgreSQL's rendering of the jsonb), so the hub's encoding gives the same bytes again.
 */
final class EventCodec {

    private static final JsonFactory JSON = new JsonFactory();

    private EventCodec() {
    }

    static byte[] encode(OutboxEvent event, String cursor) {
        return event.toJson(cursor).getBytes(StandardCharsets.UTF_8);
    }

    static OutboxEvent decode(byte[] body) {
        String json = new String(body, StandardCharsets.UTF_8);
        long id = -1;
        String cursorText = null;
        String table = null;
        String operation = null;
        String payload = null;
        String createdAt = null;
        try (JsonParser p = JSON.createParser(json.toCharArray())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("not an event object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                switch (field) {
                    case "id" -> id = Long.parseLong(p.getText());
                    case "cursor" -> cursorText = p.getText();
                    case "table" -> table = p.getText();
                    case "operation" -> operation = p.getText();
                    case "payload" -> {
                        int start = (int) p.currentTokenLocation().getCharOffset();
                        if (value == JsonToken.START_OBJECT || value == JsonToken.START_ARRAY) {
                            p.skipChildren();
                        } else {
                            p.getText(); // a scalar's text is parsed lazily: finish it so the location is its end
                        }
                        int end = (int) p.currentLocation().getCharOffset();
                        payload = json.substring(start, end);
                    }
                    case "created_at" -> createdAt = p.getText();
                    default -> p.skipChildren();
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("not an event: " + e.getMessage(), e);
        }
        if (id < 0 || cursorText == null || table == null || operation == null || payload == null || createdAt == null) {
            throw new IllegalArgumentException("an event field is missing");
        }
        Cursor cursor = Cursor.decode(cursorText).orElseThrow(() -> new IllegalArgumentException("bad cursor"));
        Instant at = Instant.parse(createdAt);
        long micros = Math.addExact(Math.multiplyExact(at.getEpochSecond(), 1_000_000L), at.getNano() / 1_000);
        return new OutboxEvent(id, cursor.xid(), table, operation, payload, micros, cursor);
    }
}
