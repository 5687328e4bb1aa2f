package io.cdcnotify.listen;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * No silent death (issue 12): an {@code OutOfMemoryError} injected into either listener thread, or a listener thread
 * stuck without progress, turns {@code /health} DOWN within 5 s and {@code cdc_listener_connected} 0; the watchdog
 * replaces the thread and events flow again, including those committed meanwhile.
 */
class ListenerSupervisionTest {

    private static final Pattern SAMPLE = Pattern.compile("(?m)^(cdc_listener_\\w+)(?:\\{[^}]*})?\\s+(\\S+)");

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void outOfMemoryInTheReaderTurnsHealthDownAndTheReaderIsRestarted() throws Exception {
        diesAndRecovers("outbox-reader", Map.of());
    }

    @Test
    void outOfMemoryInTheDoorbellTurnsHealthDownAndTheDoorbellIsRestarted() throws Exception {
        diesAndRecovers("outbox-listener", Map.of());
    }

    @Test
    void outOfMemoryInThePollerTurnsHealthDownAndThePollerIsRestarted() throws Exception {
        diesAndRecovers("outbox-reader", Map.of("cdc.listener.mode", "poll"));
    }

    @Test
    void aReaderStuckWithoutProgressIsSeenAndReplaced() throws Exception {
        try (CdcServer server = CdcServer.start(DB, Map.of("cdc.listener.stall-timeout-ms", "2000"));
             WsTestClient ws = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY)) {
            awaitHealth(server, 200);
            ws.subscribe("s", List.of("stuck"));
            AtomicBoolean stuck = new AtomicBoolean(true);
            CountDownLatch entered = new CountDownLatch(1);
            server.listener().injectFault(thread -> {
                if (thread.equals("outbox-reader") && stuck.get()) {
                    entered.countDown();
                    Thread.sleep(Long.MAX_VALUE); // only an interrupt ends this: the watchdog's
                }
            });
            assertThat(entered.await(5, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            long since = System.nanoTime();
            long meanwhile = Outbox.insert(DB, "stuck", "INSERT", "{\"n\":1}");
            awaitHealth(server, 503);
            // 2 s of stall timeout plus the watchdog's tick
            assertThat(Duration.ofNanos(System.nanoTime() - since)).isLessThan(Duration.ofSeconds(5));
            assertThat(metric(server, "cdc_listener_connected")).isEqualTo(0);
            assertThat(metric(server, "cdc_listener_last_progress_seconds")).isGreaterThan(1.5);
            assertThat(Api.get(server.http("/health"), null).json().at("/checks/listener").asText()).isEqualTo("DOWN");

            stuck.set(false);
            awaitHealth(server, 200);
            assertThat(metric(server, "cdc_listener_connected")).isEqualTo(1);
            assertThat(metric(server, "cdc_listener_last_progress_seconds")).isLessThan(2);
            long after = Outbox.insert(DB, "stuck", "INSERT", "{\"n\":2}");
            List<Long> ids = ws.events(2, Duration.ofSeconds(10)).stream().map(e -> e.get("id").asLong()).toList();
            assertThat(ids).containsExactly(meanwhile, after);
        }
    }

    private static void diesAndRecovers(String thread, Map<String, String> config) throws Exception {
        try (CdcServer server = CdcServer.start(DB, config);
             WsTestClient ws = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY)) {
            awaitHealth(server, 200);
            ws.subscribe("s", List.of("oom"));
            long before = Outbox.insert(DB, "oom", "INSERT", "{\"n\":0}");
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(before);

            // every loop of that thread runs out of memory until the fault is lifted: each replacement dies too
            AtomicBoolean failing = new AtomicBoolean(true);
            server.listener().injectFault(t -> {
                if (t.equals(thread) && failing.get()) {
                    throw new OutOfMemoryError("injected by the test");
                }
            });
            long since = System.nanoTime();
            long ring = Outbox.insert(DB, "oom", "INSERT", "{\"ring\":true}"); // wakes a reader parked for the doorbell
            awaitHealth(server, 503);
            assertThat(Duration.ofNanos(System.nanoTime() - since)).isLessThan(Duration.ofSeconds(5));
            assertThat(metric(server, "cdc_listener_connected")).isEqualTo(0);
            long meanwhile = Outbox.insert(DB, "oom", "INSERT", "{\"n\":1}");

            failing.set(false);
            awaitHealth(server, 200);
            assertThat(metric(server, "cdc_listener_connected")).isEqualTo(1);
            long after = Outbox.insert(DB, "oom", "INSERT", "{\"n\":2}");
            // each exactly once and in order: nothing lost while the thread was dead, nothing read twice
            List<Long> ids = ws.events(3, Duration.ofSeconds(10)).stream().map(e -> e.get("id").asLong()).toList();
            assertThat(ids).containsExactly(ring, meanwhile, after);
            assertThat(server.listener().restarts()).isPositive();
        }
    }

    private static void awaitHealth(CdcServer server, int status) {
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(50))
                .until(() -> Api.get(server.http("/health"), null).status() == status);
    }

    private static double metric(CdcServer server, String name) {
        Matcher m = SAMPLE.matcher(Api.get(server.http("/metrics"), null).body());
        while (m.find()) {
            if (m.group(1).equals(name)) {
                return Double.parseDouble(m.group(2));
            }
        }
        throw new AssertionError("no " + name + " in /metrics");
    }
}
