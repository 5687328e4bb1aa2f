package io.cdcnotify.observe;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import io.helidon.metrics.api.Counter;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.MetricsFactory;
import io.helidon.metrics.api.Tag;
import io.helidon.metrics.api.Timer;
import io.helidon.service.registry.Services;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What a delivery costs the metrics, on two writer threads at once (the machine's two cores): {@code micrometer}
 * is what {@code Meters.delivered} did before issue 15 point 4b (the transport's delivered counter and the lag
 * timer, both Micrometer, per delivery); {@code recorder} is what it does now (a striped adder and the lag
 * recorder). {@code publish} is the once-a-second move of 10,000 recorded deliveries into the meters, per
 * delivery: the rest of the new cost.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class DeliveryMetricsBenchmark {

    @State(Scope.Benchmark)
    public static class Shared {
        @Param({"micrometer", "recorder"})
        public String metrics;

        Meters meters;
        Counter counter;
        Timer timer;

        @Setup(Level.Trial)
        public void setup() {
            meters = new Meters();
            MetricsFactory factory = Services.get(MetricsFactory.class);
            MeterRegistry registry = factory.globalRegistry();
            counter = registry.counter("cdc_events_delivered", List.of(Tag.create("transport", "websocket")))
                    .orElseThrow();
            timer = registry.timer("cdc_delivery_lag", List.of()).orElseThrow();
        }
    }

    @Benchmark
    @Threads(2)
    public void delivered(Shared shared) {
        long lag = ThreadLocalRandom.current().nextLong(200, 30_000);
        if (shared.metrics.equals("micrometer")) {
            shared.counter.increment();
            shared.timer.record(lag, TimeUnit.MICROSECONDS);
        } else {
            shared.meters.delivered("websocket", lag);
        }
    }

    @State(Scope.Thread)
    public static class Recorded {
        Meters meters;

        @Setup(Level.Trial)
        public void setup() {
            meters = new Meters();
        }

        @Setup(Level.Invocation)
        public void record() {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (int i = 0; i < 10_000; i++) {
                meters.delivered(i % 2 == 0 ? "websocket" : "sse", random.nextLong(200, 30_000));
            }
        }
    }

    @Benchmark
    @Threads(1)
    @OperationsPerInvocation(10_000)
    public void publish(Recorded recorded) {
        recorded.meters.publish();
    }
}
