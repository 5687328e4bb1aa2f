package io.cdcnotify.ws;

import java.io.ByteArrayOutputStream;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Publication;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.Message;
import io.helidon.common.buffers.BufferData;
import io.helidon.common.buffers.DataWriter;
import io.helidon.webserver.ConnectionContext;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The writer's frames: a burst is one socket write, in order, and control frames never overtake it. */
class WsTransportTest {

    /** Each socket write the connection makes, as bytes. */
    private final List<byte[]> writes = new ArrayList<>();
    private final WsTransport transport = new WsTransport(connection());

    @Test
    void aBurstOfFramesIsOneWriteInOrder() throws Exception {
        transport.message(new Message.Subscribed(Optional.of("r1"), "s1", List.of("orders")));
        for (int i = 1; i <= 20; i++) {
            transport.event("s1", publication(i, 10));
        }
        assertThat(writes).as("nothing is written before the flush").isEmpty();

        transport.flush();
        transport.flush();

        assertThat(writes).hasSize(1);
        List<Frame> frames = frames(writes.getFirst());
        assertThat(frames).hasSize(21);
        assertThat(frames).allSatisfy(f -> assertThat(f.header).isEqualTo(0x81));
        assertThat(frames.getFirst().text).contains("\"type\":\"subscribed\"");
        for (int i = 1; i <= 20; i++) {
            assertThat(frames.get(i).text).startsWith("{\"v\":1,\"type\":\"cdc_event\",\"subscription_id\":\"s1\"")
                    .contains("\"id\":\"" + i + "\"");
        }
    }

    @Test
    void framesOfEveryLengthEncodingDecodeWhole() throws Exception {
        int[] paddings = {0, 200, 70_000, 5};  // 7-bit, 16-bit and 64-bit payload lengths
        for (int i = 0; i < paddings.length; i++) {
            transport.event("s", publication(i + 1, paddings[i]));
        }
        transport.flush();

        ByteArrayOutputStream all = new ByteArrayOutputStream();
        writes.forEach(all::writeBytes);
        List<Frame> frames = frames(all.toByteArray());
        assertThat(frames).hasSize(4);
        for (int i = 0; i < paddings.length; i++) {
            assertThat(frames.get(i).text).contains("\"id\":\"" + (i + 1) + "\"").contains("x".repeat(paddings[i]));
        }
        assertThat(writes).as("the large frame is written as soon as the burst reaches 64 KiB").hasSize(2);
    }

    @Test
    void aPongWritesTheFramesBeforeIt() throws Exception {
        transport.event("s", publication(1, 10));
        transport.pong(BufferData.create(new byte[] {1, 2}));

        assertThat(writes).hasSize(2);
        assertThat(frames(writes.get(0)).getFirst().text).contains("\"id\":\"1\"");
        assertThat(writes.get(1)[0] & 0xFF).isEqualTo(0x8A);
    }

    @Test
    void aCloseWritesTheFramesBeforeItAndAGoneConnectionWritesNothing() throws Exception {
        transport.event("s", publication(1, 10));
        transport.close(Disconnect.SHUTDOWN);
        assertThat(writes).hasSize(2);
        assertThat(writes.get(1)[0] & 0xFF).isEqualTo(0x88);

        writes.clear();
        WsTransport other = new WsTransport(connection());
        other.event("s", publication(2, 10));
        other.close(Disconnect.GONE);
        other.flush();
        assertThat(writes).isEmpty();
    }

    private static Publication publication(long id, int padding) {
        long xid = 1_000 + id;
        return new Publication(new OutboxEvent(id, xid, "orders", "INSERT",
                                               "{\"pad\":\"" + "x".repeat(padding) + "\"}",
                                               1_700_000_000_000_000L + id, new Cursor(xid, id, new long[0])));
    }

    /** Our connection over a socket that records each write. */
    private StrictWsConnection connection() {
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
                writes.add(buffer.readBytes());
            }
        };
        ConnectionContext ctx = (ConnectionContext) Proxy.newProxyInstance(
                getClass().getClassLoader(), new Class<?>[] {ConnectionContext.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "dataWriter" -> writer;
                    case "toString" -> "test connection";
                    case "hashCode" -> 0;
                    default -> null;
                });
        return new StrictWsConnection(ctx, null, null, 1 << 20, Optional.empty());
    }

    private record Frame(int header, String text) {
    }

    /** Splits bytes into unmasked server frames. */
    private static List<Frame> frames(byte[] bytes) {
        List<Frame> frames = new ArrayList<>();
        int at = 0;
        while (at < bytes.length) {
            int header = bytes[at] & 0xFF;
            long length = bytes[at + 1] & 0x7F;
            at += 2;
            if (length == 126) {
                length = ((bytes[at] & 0xFF) << 8) | (bytes[at + 1] & 0xFF);
                at += 2;
            } else if (length == 127) {
                length = 0;
                for (int i = 0; i < 8; i++) {
                    length = (length << 8) | (bytes[at + i] & 0xFF);
                }
                at += 8;
            }
            frames.add(new Frame(header, new String(bytes, at, (int) length, StandardCharsets.UTF_8)));
            at += (int) length;
        }
        return frames;
    }
}
