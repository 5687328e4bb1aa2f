package io.cdcnotify.auth;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import io.cdcnotify.config.AuthConfig;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.supervise.Worker;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The key sweep: a held key deleted behind this instance's back (another instance, SQL) or expired is released
 * by the periodic job; a key deleted here is released at once; a valid key and the bootstrap admin key never.
 */
class KeySweepTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void goneKeysAreReleasedWithTheirReasonAndValidOnesKept() throws SQLException {
        try (Database db = Database.open(new DbConfig(DB.url(), DB.user(), DB.password(), 2))) {
            ApiKeys keys = new ApiKeys(db.client(), new AuthConfig(Optional.empty(), Duration.ofSeconds(5),
                                                                   Duration.ofMillis(50)), Clock.systemUTC());
            String kept = keys.create("kept", List.of("orders"), false, Optional.empty()).key().id();
            String deleted = keys.create("deleted", List.of("orders"), false, Optional.empty()).key().id();
            String expired = keys.create("expired", List.of("orders"), false, Optional.empty()).key().id();
            Set<String> held = Set.of(kept, deleted, expired, ApiKey.BOOTSTRAP_ADMIN_ID);
            Map<String, String> released = new ConcurrentHashMap<>();
            KeySweep sweep = new KeySweep(keys, Duration.ofMillis(50), () -> held,
                                          (ids, why) -> ids.forEach(id -> released.put(id, why)));

            assertThat(sweep.sweep()).isZero();
            sql("DELETE FROM cdc.api_keys WHERE id = ?", deleted);
            sql("UPDATE cdc.api_keys SET expires_at = now() - interval '1 second' WHERE id = ?", expired);
            Worker job = sweep.job();
            assertThat(job.name()).isEqualTo("key-sweep");
            job.start();
            try {
                await().atMost(Duration.ofSeconds(10)).until(() -> released.size() == 2);
                assertThat(job.healthy()).isTrue();
            } finally {
                job.stop(Duration.ofSeconds(1));
            }
            assertThat(released).containsOnlyKeys(deleted, expired)
                    .containsValue("the API key was revoked or has expired");

            released.clear();
            sweep.revoked(kept);
            assertThat(released).containsExactly(Map.entry(kept, "the API key was revoked"));
        }
    }

    private static void sql(String statement, String id) throws SQLException {
        try (Connection c = DB.connect(); PreparedStatement st = c.prepareStatement(statement)) {
            st.setString(1, id);
            assertThat(st.executeUpdate()).isOne();
        }
    }
}
