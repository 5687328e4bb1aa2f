package io.cdcnotify.ws;

import java.net.StandardSocketOptions;
import java.util.Map;

import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The server sends a small frame at once: every connection it accepts gets {@code TCP_NODELAY}
 * ({@code server.connection-options.tcp-no-delay}, on in the built-in {@code application.yaml}).
 *
 * <p>Helidon leaves Nagle's algorithm on unless told: a small write waits while an earlier one is unacknowledged,
 * and the client's kernel delays its acknowledgement by up to 40 ms, so a client that gets an event every few
 * milliseconds receives them in bursts ~40 ms apart. Measured (docs/benchmarks.md, session 10): workload (iii) at
 * 5,000 transactions a second, p99 44.6–47.3 ms with Nagle and 14.2–14.8 ms without; one WebSocket client getting
 * an event every millisecond in this JVM, p90 40.5–43.8 ms with Nagle and 13.2–22.1 ms without. That timing is too
 * noisy for a test on a shared machine; this one checks what Helidon applies to each accepted channel
 * ({@code SocketOptions.configureSocket} sets every entry of {@code socketOptions()}), on a server wired as the
 * service wires it. It fails with {@code tcp-no-delay: false} (Helidon's default).
 */
class NoDelayTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @Test
    void everyAcceptedConnectionSendsSmallFramesAtOnce() {
        try (CdcServer server = CdcServer.start(DB, Map.of())) {
            assertThat(server.connectionOptions().socketOptions())
                    .containsEntry(StandardSocketOptions.TCP_NODELAY, true);
        }
    }
}
