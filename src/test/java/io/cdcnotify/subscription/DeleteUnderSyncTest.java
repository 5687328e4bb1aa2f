package io.cdcnotify.subscription;

import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Deleting a subscription (REST {@code DELETE}, WebSocket {@code unsubscribe}, a key's deletion) while an
 * instance's sync detaches or attaches it never fails: the cascading delete and the sync lock the attachment
 * and subscription rows in opposite orders, and without the attachment lock around the delete PostgreSQL broke
 * the deadlock by failing one of them (a 500 with a stack trace, seen under load in {@code NonReadingClientsTest}).
 */
class DeleteUnderSyncTest {

    private static final int ROUNDS = 300;

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void deletesRacingDetachingAndAttachingSyncsNeverFail() throws Exception {
        try (Database database = Database.open(new DbConfig(DB.url(), DB.user(), DB.password(), 8));
             ExecutorService pool = Executors.newFixedThreadPool(4)) {
            // two instances: each round one attaches and detaches while the other deletes
            SubscriptionStore a = new SubscriptionStore(database.client(), "i-a");
            SubscriptionStore b = new SubscriptionStore(database.client(), "i-b");
            List<Throwable> failures = new ArrayList<>();
            for (int round = 0; round < ROUNDS; round++) {
                List<String> ids = new ArrayList<>();
                List<SubscriptionStore.New> creates = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    String id = "s-del-" + round + "-" + i;
                    ids.add(id);
                    creates.add(new SubscriptionStore.New(id, "k-del", List.of("t"), Instant.now().truncatedTo(ChronoUnit.MICROS),
                                                          Optional.empty(), true));
                }
                a.write(creates, List.of(), Optional.empty(), 1_000_000);
                b.write(List.of(), ids, Optional.empty(), 1_000_000);
                CyclicBarrier start = new CyclicBarrier(3);
                Map<String, String> cursors = Map.of();
                Future<?> detach = pool.submit(() -> {
                    start.await();
                    return a.sync(new SubscriptionStore.SyncRequest(Set.of(), Set.copyOf(ids), Set.of(), false, true,
                                                                    cursors, Set.copyOf(ids), Duration.ofMinutes(5)));
                });
                Future<?> attach = pool.submit(() -> {
                    start.await();
                    return b.sync(new SubscriptionStore.SyncRequest(Set.copyOf(ids), Set.of(), Set.of(), false, false,
                                                                    cursors, Set.copyOf(ids), Duration.ofMinutes(5)));
                });
                Future<?> delete = pool.submit(() -> {
                    start.await();
                    for (String id : ids.reversed()) {
                        b.delete(id);
                    }
                    return null;
                });
                for (Future<?> f : List.of(detach, attach, delete)) {
                    try {
                        f.get(30, TimeUnit.SECONDS);
                    } catch (java.util.concurrent.ExecutionException e) {
                        failures.add(e.getCause());
                    }
                }
                if (!failures.isEmpty()) {
                    break;
                }
            }
            assertThat(failures).as("no statement failed (a deadlock fails one)").isEmpty();
        }
    }
}
