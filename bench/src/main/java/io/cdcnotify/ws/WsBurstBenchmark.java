package io.cdcnotify.ws;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Proxy;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.hub.Publication;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.WsMessages;
import io.helidon.common.buffers.BufferData;
import io.helidon.common.buffers.DataWriter;
import io.helidon.webserver.ConnectionContext;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A connection's writer putting a burst of events on a real loopback socket (a thread on the other end reads and
 * discards): one socket write per frame, as before issue 15 point 4a ({@code perFrame}: {@code WsSession.send}
 * per event), against the burst gathered and written once ({@code burst}: {@link WsTransport#event} per event,
 * then {@link WsTransport#flush}). The socket writes are plain blocking writes, as Helidon's
 * {@code PlainSocket} makes them ({@code server.use-nio: false}). Score per burst of {@code events}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class WsBurstBenchmark {

    @Param({"1", "10", "100"})
    public int events;

    @Param({"perFrame", "burst"})
    public String write;

    private ServerSocket listener;
    private Socket server;
    private Socket client;
    private Thread reader;
    private StrictWsConnection connection;
    private WsTransport transport;
    private Publication publication;

    @Setup(Level.Trial)
    public void setup() throws IOException {
        listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        client = new Socket(InetAddress.getLoopbackAddress(), listener.getLocalPort());
        server = listener.accept();
        server.setTcpNoDelay(true);
        reader = Thread.ofPlatform().daemon().name("ws-burst-reader").start(() -> {
            byte[] buffer = new byte[64 * 1024];
            try (InputStream in = client.getInputStream()) {
                while (in.read(buffer) >= 0) {
                    // discard
                }
            } catch (IOException e) {
                // closed at tear-down
            }
        });
        OutputStream out = server.getOutputStream();
        DataWriter writer = new DataWriter() {
            @Override
            public void write(BufferData... buffers) {
                writeNow(buffers);
            }

            @Override
            public void write(BufferData buffer) {
                writeNow(buffer);
            }

            @Override
            public void writeNow(BufferData... buffers) {
                writeNow(BufferData.create(buffers));
            }

            @Override
            public void writeNow(BufferData buffer) {
                buffer.writeTo(out); // as PlainSocket.write: one write call on the socket's stream
            }
        };
        ConnectionContext ctx = (ConnectionContext) Proxy.newProxyInstance(
                WsBurstBenchmark.class.getClassLoader(), new Class<?>[] {ConnectionContext.class},
                (proxy, method, args) -> method.getName().equals("dataWriter") ? writer : null);
        connection = new StrictWsConnection(ctx, null, null, 1 << 20, Optional.empty());
        transport = new WsTransport(connection);
        long xid = 1_234_567L;
        publication = new Publication(new OutboxEvent(987_654L, xid, "orders", "UPDATE",
                                                      "{\"id\": 42, \"status\": \"shipped\", \"total\": 99.5}",
                                                      1_764_000_000_123_456L, new Cursor(xid, 987_654L, new long[0])));
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        server.close();
        client.close();
        listener.close();
        reader.join(1_000);
    }

    @Benchmark
    public void writeBurst() throws IOException {
        if (write.equals("perFrame")) {
            for (int i = 0; i < events; i++) {
                connection.send(WsMessages.event("s-0123456789abcdef", publication.json()), true);
            }
        } else {
            for (int i = 0; i < events; i++) {
                transport.event("s-0123456789abcdef", publication);
            }
            transport.flush();
        }
    }
}
