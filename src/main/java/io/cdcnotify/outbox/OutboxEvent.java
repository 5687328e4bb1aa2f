package io.cdcnotify.outbox;

import java.time.Instant;

/**
 * One committed outbox row, as read, with the cursor that resumes right after it. Its JSON is
 * {@code wire.EventJson}'s.
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

    public Instant createdAt() {
        return Instant.ofEpochSecond(Math.floorDiv(createdAtMicros, 1_000_000L),
                                     Math.floorMod(createdAtMicros, 1_000_000L) * 1_000L);
    }
}
