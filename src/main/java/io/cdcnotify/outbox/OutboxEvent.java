package io.cdcnotify.outbox;

import java.time.Instant;

import com.fasterxml.jackson.core.io.JsonStringEncoder;

/**
 * One committed outbox row, as read, with the cursor that resumes right after it.
 *
 * @param id              outbox id
 * @param xid             the writing transaction's id
 * @param table           the table clients subscribe to
 * @param operation       INSERT, UPDATE or DELETE
 * @param payload         the payload's JSON text, exactly as PostgreSQL renders the jsonb
 * @param createdAtMicros {@code created_at} in microseconds since the epoch
 * @param cursor          resumes after this event
 */
public record OutboxEvent(long id,
                          long xid,
                          String table,
                          String operation,
                          String payload,
                          long createdAtMicros,
                          Cursor cursor) {

    /** The event JSON of the contract (section 3), on one line, with the cursor already encoded once. */
    public String toJson(String cursorText) {
        StringBuilder json = new StringBuilder(96 + table.length() + cursorText.length() + payload.length());
        json.append("{\"id\":\"").append(id)
                .append("\",\"cursor\":\"").append(cursorText)
                .append("\",\"table\":\"");
        JsonStringEncoder.getInstance().quoteAsString(table, json);
        json.append("\",\"operation\":\"").append(operation)
                .append("\",\"payload\":").append(payload)
                .append(",\"created_at\":\"").append(createdAtText())
                .append("\"}");
        return json.toString();
    }

    /** {@code created_at} as the contract writes it: UTC, six fractional digits, a literal Z. */
    public String createdAtText() {
        return Timestamps.format(createdAt());
    }

    public Instant createdAt() {
        return Instant.ofEpochSecond(Math.floorDiv(createdAtMicros, 1_000_000L),
                                     Math.floorMod(createdAtMicros, 1_000_000L) * 1_000L);
    }
}
