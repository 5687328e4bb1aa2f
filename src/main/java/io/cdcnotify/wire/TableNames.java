package io.cdcnotify.wire;

import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/** The contract's rule for table names: {@code [A-Za-z0-9_.]{1,128}}, or {@code *} for every table. */
public final class TableNames {

    /** The name that stands for every table, in a key's scope or a subscription. */
    public static final String EVERY_TABLE = "*";
    private static final Pattern VALID = Pattern.compile("[A-Za-z0-9_.]{1,128}");

    private TableNames() {
    }

    public static boolean valid(String name) {
        return name != null && (EVERY_TABLE.equals(name) || VALID.matcher(name).matches());
    }

    /** Why a list of tables is refused, or empty when it is fine. */
    public static Optional<String> problem(List<String> tables) {
        if (tables.isEmpty()) {
            return Optional.of("tables must not be empty");
        }
        for (String t : tables) {
            if (!valid(t)) {
                return Optional.of("invalid table name: a table name is 1 to 128 of A-Z, a-z, 0-9, _ and .");
            }
        }
        return Optional.empty();
    }
}
