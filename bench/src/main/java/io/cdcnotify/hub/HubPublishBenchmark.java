package io.cdcnotify.hub;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The listener thread's side of fan-out: {@code Hub.publish} of a page of events to 1,000 subscribers, each a
 * client of its own (as every WebSocket or SSE client is in the service), whose writer is not running, so
 * every delivery only enqueues. The score is per <em>delivery</em> (one event to one client): an event to 1,000
 * subscribers costs 1,000 of them plus one encoding.
 *
 * <p>{@code tables=1}: all 1,000 on one table, 100 events per invocation. {@code tables=100}: 10 per table,
 * 10,000 events per invocation (each encoded once). Both make 100,000 deliveries per invocation (several ms),
 * so a fresh hub per invocation (clients with empty queues; the buffer limit is out of reach) costs the
 * measurement nothing. Lives in {@code io.cdcnotify.hub} to attach clients without running their writers.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class HubPublishBenchmark {

    static final int SUBSCRIBERS = 1_000;
    static final int DELIVERIES = 100_000;

    @Param({"1", "100"})
    public int tables;

    private List<OutboxEvent> page;
    private Hub hub;

    @Setup(Level.Trial)
    public void events() {
        int events = DELIVERIES / (SUBSCRIBERS / tables);
        page = new ArrayList<>(events);
        long xid = 5_000_000L;
        for (int i = 0; i < events; i++) {
            long id = 1_000_000L + i;
            page.add(new OutboxEvent(id, xid + i, "t" + (i % tables), "INSERT", "{\"id\": " + i + ", \"status\": \"shipped\"}",
                                     1_764_000_000_000_000L + i, new Cursor(xid + i, id, new long[0])));
        }
    }

    @Setup(Level.Invocation)
    public void freshHub() {
        hub = new Hub(new Hub.Limits(Integer.MAX_VALUE, 10_000, 1L << 30), HubMetrics.NONE, Clock.systemUTC());
        for (int i = 0; i < SUBSCRIBERS; i++) {
            Subscription s = hub.subscribe("s-" + i, "k", List.of("t" + (i % tables)), false);
            Client c = hub.connect("c-" + i, "k", NoopTransport.INSTANCE, Integer.MAX_VALUE).orElseThrow();
            hub.attach(new Attachment(c, s)).orElseThrow();
        }
    }

    @Benchmark
    @OperationsPerInvocation(DELIVERIES)
    public Hub publish() {
        hub.publish(page);
        return hub;
    }
}
