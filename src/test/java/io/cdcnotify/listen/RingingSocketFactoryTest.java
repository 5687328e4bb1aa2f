package io.cdcnotify.listen;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The LISTEN socket rings from inside pgjdbc's read: while {@code getNotifications} has not returned yet (during a
 * flood of notifications it does not return for as long as they keep coming), and only for its own connection;
 * with a gap, a flood is read in few large reads instead of one per notification, and nothing is lost.
 */
class RingingSocketFactoryTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void aNotificationRingsFromInsideGetNotificationsBeforeItReturns() throws Exception {
        String id = "test-" + System.nanoTime();
        AtomicBoolean returned = new AtomicBoolean();
        AtomicBoolean rangBeforeReturn = new AtomicBoolean();
        CountDownLatch rang = new CountDownLatch(1);
        RingingSocketFactory.register(id, () -> {
            if (!returned.get()) {
                rangBeforeReturn.set(true);
            }
            rang.countDown();
        });
        try (Connection listening = listenerConnection(id);
             Statement st = listening.createStatement();
             Connection other = DB.connect();
             Statement notify = other.createStatement()) {
            st.execute("LISTEN ring_test");
            PGConnection pg = listening.unwrap(PGConnection.class);
            assertThat(rang.getCount()).as("the LISTEN's own answer rang").isZero();

            CountDownLatch next = new CountDownLatch(1);
            RingingSocketFactory.register(id, () -> {
                if (!returned.get()) {
                    rangBeforeReturn.set(true);
                }
                next.countDown();
            });
            rangBeforeReturn.set(false);
            CompletableFuture<PGNotification[]> waiting = CompletableFuture.supplyAsync(() -> {
                try {
                    PGNotification[] got = pg.getNotifications(10_000);
                    returned.set(true);
                    return got;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            TimeUnit.MILLISECONDS.sleep(200); // let it block in the read; the ring below must come from there
            notify.execute("NOTIFY ring_test");
            assertThat(next.await(5, TimeUnit.SECONDS)).as("rang").isTrue();
            assertThat(waiting.get(5, TimeUnit.SECONDS)).hasSize(1);
            assertThat(rangBeforeReturn).as("rang before getNotifications returned").isTrue();

            // another id's connection does not ring this one
            RingingSocketFactory.unregister(id);
            CountDownLatch after = new CountDownLatch(1);
            RingingSocketFactory.register("someone-else-" + id, after::countDown);
            notify.execute("NOTIFY ring_test");
            assertThat(pg.getNotifications(5_000)).hasSize(1);
            assertThat(after.getCount()).isOne();
            RingingSocketFactory.unregister("someone-else-" + id);
        } finally {
            RingingSocketFactory.unregister(id);
        }
    }

    @Test
    void withAGapAFloodIsReadAtMostOncePerGapAndEveryNotificationArrives() throws Exception {
        String id = "test-gap-" + System.nanoTime();
        long gapMillis = 25;
        AtomicInteger rings = new AtomicInteger();
        RingingSocketFactory.register(id, rings::incrementAndGet, () -> TimeUnit.MILLISECONDS.toNanos(gapMillis));
        try (Connection listening = listenerConnection(id);
             Statement st = listening.createStatement();
             Connection other = DB.connect();
             Statement notify = other.createStatement()) {
            st.execute("LISTEN ring_test");
            PGConnection pg = listening.unwrap(PGConnection.class);
            AtomicBoolean flooding = new AtomicBoolean(true); // until every notification has arrived
            AtomicInteger received = new AtomicInteger();
            CompletableFuture<Void> listener = CompletableFuture.runAsync(() -> {
                try {
                    while (flooding.get()) {
                        PGNotification[] got = pg.getNotifications(200);
                        received.addAndGet(got == null ? 0 : got.length);
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            TimeUnit.MILLISECONDS.sleep(100);
            int ringsBefore = rings.get();
            long start = System.nanoTime();
            int sent = 0;
            while (System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(1_000)) {
                notify.execute("NOTIFY ring_test, '" + sent + "'"); // autocommit: one transaction each
                sent++;
            }
            long floodMillis = (System.nanoTime() - start) / 1_000_000;
            int total = sent;
            await().atMost(Duration.ofSeconds(10)).until(() -> received.get() >= total);
            flooding.set(false);
            listener.get(10, TimeUnit.SECONDS);
            int flood = rings.get() - ringsBefore;
            assertThat(sent).as("notifications sent in the flood").isGreaterThan(300);
            assertThat(received.get()).as("every notification arrived").isEqualTo(sent);
            assertThat(flood).as("reads that returned bytes during a %d ms flood of %d notifications", floodMillis, sent)
                    .isLessThanOrEqualTo((int) (floodMillis / gapMillis) + 20);
        } finally {
            RingingSocketFactory.unregister(id);
        }
    }

    private static Connection listenerConnection(String id) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", DB.user());
        props.setProperty("password", DB.password());
        props.setProperty("socketFactory", RingingSocketFactory.class.getName());
        props.setProperty("socketFactoryArg", id);
        Connection c = DriverManager.getConnection(DB.url(), props);
        c.setAutoCommit(true);
        return c;
    }
}
