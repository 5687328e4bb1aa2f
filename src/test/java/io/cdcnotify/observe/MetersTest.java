package io.cdcnotify.observe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.wire.ErrorCode;
import io.helidon.metrics.api.Counter;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.Tag;
import io.helidon.metrics.api.Timer;
import org.junit.jupiter.api.Test;

/** {@link Meters} against the registry itself: label values, units, replacement, and many threads at once. */
class MetersTest {

    @Test
    void aNewMetersStartsFromZeroAndReplacesTheOldOnesSeries() {
        Meters old = new Meters();
        old.received(5);
        old.clientError(ErrorCode.BAD_REQUEST);
        Meters fresh = new Meters();
        MeterRegistry registry = fresh.registry();
        assertThat(counter(registry, "cdc_events_received", List.of())).isZero();
        assertThat(counter(registry, "cdc_client_errors", List.of(Tag.create("code", "bad_request")))).isZero();
        fresh.received(2);
        old.received(100); // the old one no longer shows
        assertThat(counter(registry, "cdc_events_received", List.of())).isEqualTo(2);
        assertThat(registry.meters(m -> m.id().name().equals("cdc_events_received"))).hasSize(1);
        assertThat(registry.meters(m -> m.id().name().equals("cdc_client_errors")))
                .hasSize(ErrorCode.values().length);
    }

    @Test
    void everyLabelValueHasItsOwnSeries() {
        Meters meters = new Meters();
        MeterRegistry registry = meters.registry();
        for (HubMetrics.DropReason reason : HubMetrics.DropReason.values()) {
            meters.dropped(reason);
            meters.dropped(reason);
        }
        meters.dropped(HubMetrics.DropReason.QUEUE_FULL);
        assertThat(counter(registry, "cdc_events_dropped", List.of(Tag.create("reason", "queue_full")))).isEqualTo(3);
        assertThat(counter(registry, "cdc_events_dropped", List.of(Tag.create("reason", "slow_consumer")))).isEqualTo(2);
        for (ErrorCode code : ErrorCode.values()) {
            for (int i = 0; i <= code.ordinal(); i++) {
                meters.clientError(code);
            }
        }
        for (ErrorCode code : ErrorCode.values()) {
            assertThat(counter(registry, "cdc_client_errors", List.of(Tag.create("code", code.wire()))))
                    .as(code.wire()).isEqualTo(code.ordinal() + 1);
        }
    }

    @Test
    void lagIsRecordedInSecondsIntoItsBuckets() {
        Meters meters = new Meters();
        meters.delivered("websocket", 2_500);       // 2.5 ms
        meters.delivered("sse", 300_000);           // 300 ms
        meters.delivered("websocket", 20_000_000);  // 20 s: past the last bucket
        meters.delivered("websocket", -40);         // a clock a little ahead of the database's: zero, not negative
        meters.delivered("carrier-pigeon", 1_000);  // no such transport: lag only, and no failure
        MeterRegistry registry = meters.registry();
        Timer lag = registry.timer("cdc_delivery_lag", List.of()).orElseThrow();
        assertThat(lag.count()).as("recorded, not yet published").isZero();
        meters.publish();
        assertThat(lag.count()).isEqualTo(5);
        assertThat(lag.totalTime(TimeUnit.MICROSECONDS)).isCloseTo(2_500 + 300_000 + 20_000_000 + 1_000.0, offset(1e-3));
        // as /metrics shows it: seconds, cumulative buckets
        Scrape s = Scrape.parse(prometheus(registry));
        assertThat(s.value("cdc_delivery_lag_seconds_count")).isEqualTo(5);
        assertThat(s.value("cdc_delivery_lag_seconds_sum")).isCloseTo(20.3035, offset(1e-6));
        assertThat(s.value("cdc_delivery_lag_seconds_bucket", "le", "0.001")).isEqualTo(2);  // -40 µs → 0, and 1 ms
        assertThat(s.value("cdc_delivery_lag_seconds_bucket", "le", "0.0025")).isEqualTo(3);
        assertThat(s.value("cdc_delivery_lag_seconds_bucket", "le", "0.25")).isEqualTo(3);
        assertThat(s.value("cdc_delivery_lag_seconds_bucket", "le", "0.5")).isEqualTo(4);
        assertThat(s.value("cdc_delivery_lag_seconds_bucket", "le", "10.0")).isEqualTo(4);
        assertThat(s.value("cdc_delivery_lag_seconds_bucket", "le", "+Inf")).isEqualTo(5);
        assertThat(s.all("cdc_delivery_lag_seconds_bucket", Map.of())).hasSize(Meters.LAG_BUCKETS.length + 1);
        assertThat(s.types()).containsEntry("cdc_delivery_lag_seconds", "histogram");
        assertThat(s.text()).doesNotContain("quantile=");
        assertThat(counter(registry, "cdc_events_delivered", List.of(Tag.create("transport", "websocket")))).isEqualTo(3);
        assertThat(counter(registry, "cdc_events_delivered", List.of(Tag.create("transport", "sse")))).isEqualTo(1);
    }

    @Test
    void manyThreadsLoseNoCount() throws Exception {
        Meters meters = new Meters();
        int threads = 8;
        int each = 20_000;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        CountDownLatch go = new CountDownLatch(1);
        try {
            List<Future<?>> done = new java.util.ArrayList<>();
            for (int t = 0; t < threads; t++) {
                String transport = t % 2 == 0 ? "websocket" : "sse";
                done.add(pool.submit(() -> {
                    go.await();
                    for (int i = 0; i < each; i++) {
                        meters.received(1);
                        meters.delivered(transport, i);
                        meters.dropped(HubMetrics.DropReason.SLOW_CONSUMER);
                    }
                    return null;
                }));
            }
            go.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        meters.publish();
        MeterRegistry registry = meters.registry();
        long total = (long) threads * each;
        assertThat(counter(registry, "cdc_events_received", List.of())).isEqualTo(total);
        assertThat(counter(registry, "cdc_events_delivered", List.of(Tag.create("transport", "websocket")))
                           + counter(registry, "cdc_events_delivered", List.of(Tag.create("transport", "sse"))))
                .isEqualTo(total);
        assertThat(counter(registry, "cdc_events_dropped", List.of(Tag.create("reason", "slow_consumer")))).isEqualTo(total);
        assertThat(registry.timer("cdc_delivery_lag", List.of()).orElseThrow().count()).isEqualTo(total);
    }

    @Test
    void publishedLagShowsWhatRecordingEachLagIntoTheTimerWould() throws Exception {
        Meters meters = new Meters();
        MeterRegistry registry = meters.registry();
        io.helidon.metrics.api.MetricsFactory factory =
                io.helidon.service.registry.Services.get(io.helidon.metrics.api.MetricsFactory.class);
        registry.remove("test_lag_direct", List.of());
        Timer direct = registry.getOrCreate(factory.timerBuilder("test_lag_direct")
                                                    .buckets(Meters.LAG_BUCKETS)
                                                    .percentiles(new double[0])
                                                    .publishPercentileHistogram(false));
        java.util.Random random = new java.util.Random(15);
        long[] edges = {-5, 0, 1, 999, 1_000, 1_001, 2_500, 10_000_000, 10_000_001, 3_600_000_000L};
        int threads = 4;
        for (int round = 0; round < 20; round++) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new java.util.ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    long seed = random.nextLong();
                    done.add(pool.submit(() -> {
                        java.util.Random r = new java.util.Random(seed);
                        for (int i = 0; i < 5_000; i++) {
                            long lag = i % 50 == 0 ? edges[r.nextInt(edges.length)]
                                                   : (long) Math.exp(r.nextDouble() * Math.log(20_000_000));
                            meters.delivered("websocket", lag);
                            synchronized (direct) {
                                direct.record(Math.max(0, lag), TimeUnit.MICROSECONDS);
                            }
                        }
                        return null;
                    }));
                    if (t == threads / 2) {
                        meters.publish(); // while others record
                    }
                }
                for (Future<?> f : done) {
                    f.get(60, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            meters.publish();
        }
        Timer lag = registry.timer("cdc_delivery_lag", List.of()).orElseThrow();
        assertThat(lag.count()).isEqualTo(direct.count()).isEqualTo(20L * threads * 5_000);
        assertThat(lag.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(direct.totalTime(TimeUnit.NANOSECONDS));
        assertThat(lag.max(TimeUnit.NANOSECONDS)).isEqualTo(direct.max(TimeUnit.NANOSECONDS));
        Scrape s = Scrape.parse(prometheus(registry));
        List<Scrape.Sample> ours = s.all("cdc_delivery_lag_seconds_bucket", Map.of());
        List<Scrape.Sample> theirs = s.all("test_lag_direct_seconds_bucket", Map.of());
        assertThat(ours).hasSize(Meters.LAG_BUCKETS.length + 1);
        assertThat(ours).extracting(Scrape.Sample::value).containsExactlyElementsOf(
                theirs.stream().map(Scrape.Sample::value).toList());
        assertThat(ours.stream().map(Scrape.Sample::value).distinct().count()).as("values in many buckets")
                .isGreaterThan(8);
        registry.remove("test_lag_direct", List.of());
    }

    /** The registry as {@code /metrics} writes it. */
    static String prometheus(MeterRegistry registry) {
        for (io.helidon.metrics.spi.MeterRegistryFormatterProvider p
                : java.util.ServiceLoader.load(io.helidon.metrics.spi.MeterRegistryFormatterProvider.class)) {
            Optional<io.helidon.metrics.api.MeterRegistryFormatter> f = p.formatter(
                    io.helidon.common.media.type.MediaTypes.TEXT_PLAIN, io.helidon.metrics.api.MetricsConfig.create(),
                    registry, Optional.of("scope"), List.of(), List.of());
            if (f.isPresent()) {
                return String.valueOf(f.get().format().orElseThrow());
            }
        }
        throw new AssertionError("no Prometheus formatter");
    }

    private static long counter(MeterRegistry registry, String name, List<Tag> tags) {
        Optional<Counter> c = registry.counter(name, tags);
        assertThat(c).as(name + tags).isPresent();
        return c.get().count();
    }
}
