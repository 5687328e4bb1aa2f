package io.cdcnotify.bench;

import java.time.Instant;

/**
 * Reads the three fields the driver needs out of an event's JSON text without parsing it: {@code id},
 * {@code created_at} and the payload's {@code t} (the moment the writer meant to write it). Cheap on purpose:
 * the driver shares two cores with the service and PostgreSQL.
 *
 * <p>Why substring search is correct here: the event JSON is {@code {"id":"…","cursor":…,"payload":…,
 * "created_at":"…"}} (contract section 3), so the event's own {@code id} is the first {@code "id":"} after the
 * event's opening brace, and its {@code created_at} the <em>last</em> {@code "created_at":"} in the text (a
 * payload could hold another one, but only before it). The driver writes payloads as {@code {"t": …, "w": …,
 * "pad": …, "seq": …}}; PostgreSQL's jsonb puts the shortest key first, so {@code "payload": {"t": } is found
 * right after {@code "payload":}.
 */
final class Events {

    private static final byte[] ID_BYTES = ascii("\"id\":\"");
    private static final byte[] CREATED_AT_BYTES = ascii("\"created_at\":\"");
    private static final byte[] PAYLOAD_T_BYTES = ascii("\"payload\":{\"t\": ");
    private static final byte[] SEQ_BYTES = ascii("\"seq\": ");

    private Events() {
    }

    /**
     * Hands the event in the text {@code a[start, end)} to {@code receiver}: its id (searched from {@code idFrom},
     * the event object's opening brace or the SSE data line), {@code created_at}, the payload's {@code t} and
     * {@code seq}. False, and nothing handed, when there is no id.
     */
    static boolean report(Stats.Receiver receiver, byte[] a, int idFrom, int start, int end) {
        long id = idFrom < 0 ? -1 : id(a, idFrom, end);
        if (id < 0) {
            return false;
        }
        receiver.event(id, createdAtMicros(a, start, end), intendedMicros(a, start, end), seq(a, start, end));
        return true;
    }

    // Read off the event's UTF-8 bytes, no String per event: every pattern is ASCII, and no byte of a multi-byte
    // UTF-8 character is an ASCII byte, so a pattern is where it is in the text, and what follows a match
    // (digits, a timestamp) is ASCII, one byte per char.

    static byte[] ascii(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    /** The event's id, searching {@code a[from, end)}; -1 if absent. */
    private static long id(byte[] a, int from, int end) {
        int i = indexOf(a, from, end, ID_BYTES);
        return i < 0 ? -1 : digits(a, i + ID_BYTES.length, end);
    }

    /** {@code created_at} in microseconds since the epoch; {@link Long#MIN_VALUE} if absent or malformed. */
    private static long createdAtMicros(byte[] a, int start, int end) {
        int i = lastIndexOf(a, start, end, CREATED_AT_BYTES);
        if (i < 0 || i + CREATED_AT_BYTES.length + 27 > end) {
            return Long.MIN_VALUE;
        }
        return parseTimestamp(a, i + CREATED_AT_BYTES.length);
    }

    /** The payload's {@code t} (epoch micros the writer meant to write the event at), or -1. */
    private static long intendedMicros(byte[] a, int start, int end) {
        int i = indexOf(a, start, end, PAYLOAD_T_BYTES);
        return i < 0 ? -1 : digits(a, i + PAYLOAD_T_BYTES.length, end);
    }

    /** The payload's {@code seq} (the writer's sequence number of the event), or -1. */
    private static long seq(byte[] a, int start, int end) {
        int i = indexOf(a, start, end, PAYLOAD_T_BYTES);
        if (i < 0) {
            return -1;
        }
        int j = indexOf(a, i, end, SEQ_BYTES);
        return j < 0 ? -1 : digits(a, j + SEQ_BYTES.length, end);
    }

    /** Where {@code p} first occurs in {@code a[from, end)}, or -1. */
    static int indexOf(byte[] a, int from, int end, byte[] p) {
        byte first = p[0];
        for (int i = from, last = end - p.length; i <= last; i++) {
            if (a[i] == first && matches(a, i, p)) {
                return i;
            }
        }
        return -1;
    }

    /** Where {@code p} last occurs in {@code a[start, end)}, or -1. */
    static int lastIndexOf(byte[] a, int start, int end, byte[] p) {
        byte first = p[0];
        for (int i = end - p.length; i >= start; i--) {
            if (a[i] == first && matches(a, i, p)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether {@code a[start, end)} starts with {@code p}. */
    static boolean startsWith(byte[] a, int start, int end, byte[] p) {
        return end - start >= p.length && matches(a, start, p);
    }

    private static boolean matches(byte[] a, int at, byte[] p) {
        for (int k = 1; k < p.length; k++) {
            if (a[at + k] != p[k]) {
                return false;
            }
        }
        return a[at] == p[0];
    }

    private static long parseTimestamp(byte[] s, int p) {
        if (s[p + 4] != '-' || s[p + 10] != 'T' || s[p + 19] != '.' || s[p + 26] != 'Z') {
            return Long.MIN_VALUE;
        }
        int year = num(s, p, 4);
        int month = num(s, p + 5, 2);
        int day = num(s, p + 8, 2);
        int hour = num(s, p + 11, 2);
        int minute = num(s, p + 14, 2);
        int second = num(s, p + 17, 2);
        int micros = num(s, p + 20, 6);
        long days = daysFromCivil(year, month, day);
        return ((days * 24 + hour) * 60 + minute) * 60_000_000L + second * 1_000_000L + micros;
    }

    private static int num(byte[] s, int p, int n) {
        int v = 0;
        for (int i = 0; i < n; i++) {
            v = v * 10 + (s[p + i] - '0');
        }
        return v;
    }

    private static long digits(byte[] s, int p, int end) {
        long v = 0;
        int n = 0;
        for (int i = p; i < end; i++, n++) {
            byte c = s[i];
            if (c < '0' || c > '9') {
                break;
            }
            v = v * 10 + (c - '0');
        }
        return n == 0 ? -1 : v;
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
    static long daysFromCivil(int y, int m, int d) {
        y -= m <= 2 ? 1 : 0;
        long era = (y >= 0 ? y : y - 399) / 400;
        long yoe = y - era * 400;
        long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }

    // ---- the driver's clock: epoch microseconds, from nanoTime, calibrated once ----

    private static final long EPOCH_BASE_MICROS;
    private static final long NANO_BASE;

    static {
        Instant now = Instant.now();
        NANO_BASE = System.nanoTime();
        EPOCH_BASE_MICROS = now.getEpochSecond() * 1_000_000L + now.getNano() / 1_000;
    }

    /** Now, in epoch microseconds: the same clock PostgreSQL's {@code clock_timestamp()} reads on this machine. */
    static long nowMicros() {
        return EPOCH_BASE_MICROS + (System.nanoTime() - NANO_BASE) / 1_000;
    }

    /** A {@link System#nanoTime()} value as epoch microseconds. */
    static long nanoToEpochMicros(long nano) {
        return EPOCH_BASE_MICROS + (nano - NANO_BASE) / 1_000;
    }
}
