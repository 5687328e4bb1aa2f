package io.cdcnotify.ws;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.hub.Publication;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.WsMessages;
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
 * What each WebSocket recipient pays per event on its writer thread, before Helidon: the {@code cdc_event} frame
 * text around the shared event JSON (per recipient, because it names the recipient's subscription), and its
 * UTF-8 bytes (Helidon encodes a text frame on send), as {@code wire.WsMessages} builds it for the WebSocket
 * transport.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class WsFrameBenchmark {

    @Param({"small", "1KiB"})
    public String payload;

    private Publication publication;

    @Setup
    public void setup() {
        String json = payload.equals("small")
                ? "{\"id\": 42, \"status\": \"shipped\"}"
                : "{\"id\": 42, \"note\": \"" + "x".repeat(1024 - 30) + "\", \"status\": \"shipped\"}";
        long xid = 1_234_567L;
        publication = new Publication(new OutboxEvent(987_654L, xid, "orders", "UPDATE", json,
                                                      1_764_000_000_123_456L, new Cursor(xid, 987_654L, new long[0])));
    }

    @Benchmark
    public String wsEventFrame() {
        return WsMessages.event("s-0123456789abcdef", publication.json());
    }

    @Benchmark
    public byte[] wsEventFrameBytes() {
        return WsMessages.event("s-0123456789abcdef", publication.json()).getBytes(StandardCharsets.UTF_8);
    }
}
