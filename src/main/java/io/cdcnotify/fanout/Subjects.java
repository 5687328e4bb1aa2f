package io.cdcnotify.fanout;

import java.nio.charset.StandardCharsets;

/**
 * The NATS subject of a table's events. A subject token may not hold {@code .}, {@code *}, {@code >} or white
 * space, and table names hold dots ({@code public.orders}): letters, digits and {@code _} stay, {@code .} becomes
 * {@code -}, and every other byte (including {@code -} itself) is written {@code %XX}, so no two tables share a
 * subject.
 */
final class Subjects {

    private final String prefix;

    Subjects(String prefix) {
        this.prefix = prefix;
    }

    /** Every event subject, for the stream and the consumers. */
    String all() {
        return prefix + ".>";
    }

    String of(String table) {
        return prefix + "." + token(table);
    }

    static String token(String table) {
        StringBuilder out = new StringBuilder(table.length() + 8);
        for (byte b : table.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xFF;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
                out.append((char) c);
            } else if (c == '.') {
                out.append('-');
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xF, 16)));
            }
        }
        return out.isEmpty() ? "%" : out.toString();
    }
}
