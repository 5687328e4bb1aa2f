package io.cdcnotify.hub;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Fan-out with the writers running, as in the service: 1,000 clients, each with its own writer on a virtual
 * thread ({@link Client#run()}) over a transport that writes nothing. An invocation publishes a page and waits
 * until every writer has handed every event to its transport, so the score (per delivery) includes what
 * {@link HubPublishBenchmark} leaves out: waking parked writers, their queue polls, and the threads' scheduling
 * on the machine's cores. It is the service's fan-out ceiling with free sockets.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
public class HubFanoutBenchmark {

    static final int SUBSCRIBERS = 1_000;
    static final int DELIVERIES = 10_000;

    @Param({"1", "100"})
    public int tables;

    private List<OutboxEvent> page;
    private Hub hub;
    private final NoopTransport transport = new NoopTransport();
    private long sent;

    @Setup(Level.Trial)
    public void setup() throws InterruptedException {
        int events = DELIVERIES / (SUBSCRIBERS / tables);
        page = new ArrayList<>(events);
        long xid = 5_000_000L;
        for (int i = 0; i < events; i++) {
            long id = 1_000_000L + i;
            page.add(new OutboxEvent(id, xid + i, "t" + (i % tables), "INSERT", "{\"id\": " + i + ", \"status\": \"shipped\"}",
                                     1_764_000_000_000_000L + i, new Cursor(xid + i, id, new long[0])));
        }
        hub = new Hub(new Hub.Limits(1_000_000, 10_000, 1L << 30), HubMetrics.NONE, Clock.systemUTC());
        for (int i = 0; i < SUBSCRIBERS; i++) {
            Subscription s = hub.subscribe("s-" + i, "k", List.of("t" + (i % tables)), false);
            Client c = hub.connect("c-" + i, "k", transport, Integer.MAX_VALUE).orElseThrow();
            Thread.ofVirtual().name("writer-" + i).start(c::run);
            c.attach(s, Optional.empty(), new Message.Subscribed(Optional.empty(), s.id(), s.tables()),
                     Message.Error.of(ErrorCode.NOT_FOUND, "gone"));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (transport.messages.get() < SUBSCRIBERS) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("writers did not attach");
            }
            Thread.sleep(1);
        }
        transport.waiter = Thread.currentThread();
    }

    @Benchmark
    @OperationsPerInvocation(DELIVERIES)
    public long publishAndDrain() {
        sent += DELIVERIES;
        transport.target = sent;
        hub.publish(page);
        while (transport.events.get() < sent) {
            LockSupport.parkNanos(50_000);
        }
        return sent;
    }

    @TearDown(Level.Trial)
    public void close() {
        hub.closeAll(Disconnect.SHUTDOWN);
    }
}
