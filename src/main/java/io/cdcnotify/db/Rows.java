package io.cdcnotify.db;

import java.sql.Array;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.List;

/** Conversions between PostgreSQL column values, as the JDBC driver hands them over, and our types. */
public final class Rows {

    private Rows() {
    }

    /** A {@code text[]} column. */
    public static List<String> textArray(Object value) {
        try {
            Object array = value instanceof Array a ? a.getArray() : value;
            return List.of((String[]) array);
        } catch (SQLException e) {
            throw new IllegalStateException("unreadable text[]", e);
        }
    }

    /** A {@code timestamptz} column. */
    public static Instant instant(Object value) {
        return switch (value) {
            case Timestamp t -> t.toInstant();
            case OffsetDateTime t -> t.toInstant();
            case Instant t -> t;
            default -> throw new IllegalStateException("not a timestamp: " + value.getClass());
        };
    }

    /** A {@code timestamptz} parameter. */
    public static OffsetDateTime timestamp(Instant instant) {
        return instant.atOffset(ZoneOffset.UTC);
    }
}
