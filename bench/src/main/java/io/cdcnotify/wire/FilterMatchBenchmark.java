package io.cdcnotify.wire;

import java.util.List;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.hub.HubFilterBenchmark;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The parts of {@link HubFilterBenchmark}'s per-event cost, on its ~300-byte orders: parsing an event's payload and
 * looking up one path (paid once per event, however many filters), and one filter check on an already parsed
 * payload whose path was already looked up (paid once per filtered subscription).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class FilterMatchBenchmark {

    private static final String[] CUSTOMER = {"customer"};

    private List<OutboxEvent> events;
    private Filter filter;
    private Filter.Payload[] parsed;
    private int next;

    @Setup
    public void setup() {
        events = HubFilterBenchmark.events(256);
        filter = HubFilterBenchmark.filter("customer", 17).orElseThrow();
        parsed = new Filter.Payload[events.size()];
        for (int i = 0; i < parsed.length; i++) {
            parsed[i] = new Filter.Payload(events.get(i).payload());
            filter.matches(events.get(i), parsed[i]);
        }
    }

    /** Jackson's parse of the payload and one path lookup: once per event with any filtered subscriber. */
    @Benchmark
    public String parseAndLookUp() {
        OutboxEvent e = events.get(next++ & 255);
        return new Filter.Payload(e.payload()).key("customer", CUSTOMER);
    }

    /** One subscription's check once the event's payload is parsed and its path looked up. */
    @Benchmark
    public boolean matchParsed() {
        int i = next++ & 255;
        return filter.matches(events.get(i), parsed[i]);
    }
}
