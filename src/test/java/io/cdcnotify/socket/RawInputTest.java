package io.cdcnotify.socket;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import io.helidon.common.socket.PlainSocket;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link RawInput} reaches the JDK socket under Helidon's plain socket: this fails when a Helidon upgrade moves or
 * renames the field (SSE streams then wait through Helidon's stream, four frames deeper each).
 */
class RawInputTest {

    @Test
    void itReadsWhatTheClientSendsAndThenTheEndOfInput() throws Exception {
        try (ServerSocket listening = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Socket client = new Socket(InetAddress.getLoopbackAddress(), listening.getLocalPort());
             Socket accepted = listening.accept()) {
            PlainSocket socket = PlainSocket.server(accepted, "test", "test");
            InputStream in = RawInput.of(socket).orElseThrow();

            client.getOutputStream().write(new byte[] {1, 2, 3});
            client.getOutputStream().flush();
            assertThat(in.readNBytes(3)).containsExactly(1, 2, 3);

            client.close();
            assertThat(in.read()).as("the end of input").isEqualTo(-1);
        }
    }
}
