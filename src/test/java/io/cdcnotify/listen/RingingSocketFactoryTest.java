package io.cdcnotify.listen;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
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
        RingingSocketFactory.register(id, rings::incrementAndGet, () -> TimeUnit.MILLISECONDS.toNanos(gapMillis),
                                      () -> false);
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
            // bytes arrive until the last notification is read: the gaps are counted over that whole time, the
            // flood and the drain after it (the flood's 1,000 ms alone left 62 reads against 60 once, at 19,695
            // notifications a second)
            long arrivingMillis = (System.nanoTime() - start) / 1_000_000;
            int flood = rings.get() - ringsBefore;
            flooding.set(false);
            listener.get(10, TimeUnit.SECONDS);
            assertThat(sent).as("notifications sent in the flood").isGreaterThan(300);
            assertThat(received.get()).as("every notification arrived").isEqualTo(sent);
            assertThat(flood).as("reads that returned bytes during a %d ms flood of %d notifications, all read after %d ms",
                                 floodMillis, sent, arrivingMillis)
                    .isLessThanOrEqualTo((int) (arrivingMillis / gapMillis) + 20);
        } finally {
            RingingSocketFactory.unregister(id);
        }
    }

    /**
     * Under a flood read with a gap, {@code getNotifications} does not return by itself (each peek for a further
     * notification finds what arrived while the gap was slept out); with {@code letGo} set it returns at its first
     * peek, and no notification is split or lost: every one sent arrives over the following calls, and the
     * connection still answers a query. Without {@code letGo} the call lasts the whole flood (checked).
     */
    @Test
    void letGoEndsGetNotificationsDuringAFloodWithoutLosingAnything() throws Exception {
        String id = "test-letgo-" + System.nanoTime();
        AtomicBoolean letGo = new AtomicBoolean();
        // with the gap the listener reads with, each peek finds what came while the gap was slept out
        RingingSocketFactory.register(id, () -> { }, () -> TimeUnit.MILLISECONDS.toNanos(5), letGo::get);
        try (Connection listening = listenerConnection(id);
             Statement st = listening.createStatement()) {
            st.execute("LISTEN ring_test");
            PGConnection pg = listening.unwrap(PGConnection.class);
            AtomicInteger sent = new AtomicInteger();
            // four notifiers, so that notifications keep coming less than a millisecond apart for 1.5 s
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1_500);
            CompletableFuture<?>[] notifiers = new CompletableFuture<?>[4];
            for (int n = 0; n < notifiers.length; n++) {
                notifiers[n] = CompletableFuture.runAsync(() -> {
                    try (Connection other = DB.connect(); Statement notify = other.createStatement()) {
                        while (System.nanoTime() < end) {
                            notify.execute("NOTIFY ring_test, '" + sent.getAndIncrement() + "'");
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, Executors.newVirtualThreadPerTaskExecutor());
            }
            CompletableFuture<Void> flood = CompletableFuture.allOf(notifiers);
            await().atMost(Duration.ofSeconds(5)).until(() -> sent.get() > 50); // the flood is on
            letGo.set(true);
            long start = System.nanoTime();
            int received = count(pg.getNotifications(10_000)); // into the flood: returns only when let go
            long tookMillis = (System.nanoTime() - start) / 1_000_000;
            letGo.set(false);
            assertThat(tookMillis).as("getNotifications returned while the flood went on").isLessThan(300);
            assertThat(flood.isDone()).as("the flood was still going").isFalse();
            flood.get(10, TimeUnit.SECONDS);
            while (received < sent.get()) {
                PGNotification[] got = pg.getNotifications(2_000);
                assertThat(got).as("more notifications after %d of %d", received, sent.get()).isNotEmpty();
                received += got.length;
            }
            assertThat(received).as("every notification arrived once").isEqualTo(sent.get());
            try (var rs = st.executeQuery("SELECT 1")) {
                assertThat(rs.next()).isTrue();
            }
        } finally {
            RingingSocketFactory.unregister(id);
        }
    }

    private static int count(PGNotification[] got) {
        return got == null ? 0 : got.length;
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
