package io.cdcnotify.bench;

import java.util.concurrent.TimeUnit;

import io.cdcnotify.hub.Publication;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.Timestamps;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Encoding an event once per publication: the cursor, the event JSON ({@code new Publication}), and the SSE frame
 * every SSE client shares. Small payload (the contract's example) and a 1 KiB one.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class PublicationBenchmark {

    @Param({"small", "1KiB"})
    public String payload;

    private OutboxEvent event;

    @Setup
    public void setup() {
        String json = payload.equals("small")
                ? "{\"id\": 42, \"status\": \"shipped\"}"
                : "{\"id\": 42, \"note\": \"" + "x".repeat(1024 - 30) + "\", \"status\": \"shipped\"}";
        long xid = 1_234_567L;
        long micros = 1_764_000_000_000_000L + 123_456L;
        event = new OutboxEvent(987_654L, xid, "orders", "UPDATE", json, micros,
                                new Cursor(xid, 987_654L, new long[] {xid - 3, xid - 1}));
    }

    /** Cursor text + event JSON: what {@code Hub.publish} pays once per event that has a subscriber. */
    @Benchmark
    public Publication publication() {
        return new Publication(event);
    }

    /** The above, plus the SSE frame bytes (built once per event, by the first SSE writer that needs them). */
    @Benchmark
    public byte[] publicationAndSseFrame() {
        return new Publication(event).sseFrame();
    }

    /** The parts: the cursor's encoding alone. */
    @Benchmark
    public String cursorEncode() {
        return event.cursor().encode();
    }

    /** The parts: {@code created_at} text alone (a {@code DateTimeFormatter}). */
    @Benchmark
    public String createdAtText() {
        return Timestamps.format(event.createdAt());
    }
}
