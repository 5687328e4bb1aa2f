package io.cdcnotify.sse;

import java.util.Arrays;
import java.util.List;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A client with a valid key that keeps sending bytes into its SSE stream (a stream's client has nothing to send):
 * the handler reads them into one buffer every stream shares and drops them ({@link SseSocket#awaitInputEnd}).
 * 32 MB of it all get written (the service keeps reading, it never stalls the sender), while its own stream and a
 * well-behaved one get every event, and {@code /health} stays UP.
 */
class InputFloodTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB);
        key = Api.createKey(server, List.of("flooded"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void bytesSentIntoAStreamAreDroppedAndHarmNoOne() throws Exception {
        try (SseTestClient flooder = SseTestClient.subscribed(server, key, "flooded");
             SseTestClient good = SseTestClient.subscribed(server, key, "flooded")) {
            byte[] chunk = new byte[64 * 1024];
            Arrays.fill(chunk, (byte) 'x');
            long first = Outbox.insert(DB, "flooded", "INSERT", "{\"n\":1}");
            for (int i = 0; i < 512; i++) { // 32 MB: written only as fast as the service reads them
                flooder.sendRaw(chunk);
            }
            long second = Outbox.insert(DB, "flooded", "INSERT", "{\"n\":2}");
            for (SseTestClient c : List.of(flooder, good)) {
                assertThat(c.events(2, SseTestClient.WAIT)).extracting(SseTestClient.Event::id).hasSize(2)
                        .allSatisfy(id -> assertThat(id).isNotEmpty());
            }
            assertThat(Api.get(server.http("/health"), null).status()).isEqualTo(200);
            assertThat(first).isLessThan(second);
        }
    }
}
