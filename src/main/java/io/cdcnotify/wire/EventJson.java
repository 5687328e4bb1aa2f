package io.cdcnotify.wire;

import java.io.IOException;
import java.time.Instant;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;

/**
 * The event JSON of the contract (section 3), the same object on every transport, and its reading back (the
 * fan-out stream carries it between instances).
 */
public final class EventJson {

    private EventJson() {
    }

    /** The event on one line, with the cursor already encoded once. */
    public static String write(OutboxEvent event, String cursorText) {
        StringBuilder json = new StringBuilder(96 + event.table().length() + cursorText.length()
                                                       + event.payload().length());
        json.append("{\"id\":\"").append(event.id())
                .append("\",\"cursor\":\"").append(cursorText)
                .append("\",\"table\":\"");
        JsonStringEncoder.getInstance().quoteAsString(event.table(), json);
        json.append("\",\"operation\":\"").append(event.operation())
                .append("\",\"payload\":").append(event.payload())
                .append(",\"created_at\":\"").append(Timestamps.format(event.createdAt()))
                .append("\"}");
        return json.toString();
    }

    /**
     * Reads an event written by {@link #write}, keeping the payload's text as written (PostgreSQL's rendering of
     * the jsonb), so that writing it again gives the same bytes.
     *
     * @throws IllegalArgumentException when it is not such an event
     */
    public static OutboxEvent read(String json) {
        long id = -1;
        String cursorText = null;
        String table = null;
        String operation = null;
        String payload = null;
        String createdAt = null;
        try (JsonParser p = Json.MAPPER.getFactory().createParser(json.toCharArray())) {
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
