package io.cdcnotify.auth;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * An API key's record, never its secret.
 *
 * @param id        public id
 * @param name      what the operator called it
 * @param tables    tables it may read; {@code *} for all
 * @param admin     whether it may manage keys and read every table
 * @param expiresAt when it stops working, if ever
 * @param createdAt when it was made
 */
public record ApiKey(String id, String name, List<String> tables, boolean admin, Optional<Instant> expiresAt,
                     Instant createdAt) {

    /** The id under which {@code CDC_ADMIN_KEY} connections are counted. */
    public static final String BOOTSTRAP_ADMIN_ID = "admin";

    public ApiKey {
        tables = List.copyOf(tables);
    }

    /** True when this key may read events of {@code table}. */
    public boolean allows(String table) {
        return admin || tables.contains("*") || tables.contains(table);
    }

    /** True when it may read every table of a subscription. */
    public boolean allowsAll(List<String> wanted) {
        if (admin || tables.contains("*")) {
            return true;
        }
        for (String t : wanted) {
            if (!tables.contains(t)) {
                return false;
            }
        }
        return true;
    }

    public boolean expiredAt(Instant now) {
        return expiresAt.isPresent() && !now.isBefore(expiresAt.get());
    }
}
