package io.cdcnotify.socket;

import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

import io.helidon.common.socket.PlainSocket;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The read buffer of Helidon's plain socket is replaced as {@link ReadBuffer} says: this fails when a Helidon
 * upgrade moves or renames the field, or the JDK refuses to change it (each connection then keeps 8 KiB more).
 */
class ReadBufferTest {

    @Test
    void aShrunkSocketReadsAtMostItsBufferAtATimeAndLosesNothing() throws Exception {
        try (ServerSocket listening = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Socket client = new Socket(InetAddress.getLoopbackAddress(), listening.getLocalPort());
             Socket accepted = listening.accept()) {
            PlainSocket socket = PlainSocket.server(accepted, "test", "test");
            assertThat(ReadBuffer.shrink(socket, 64)).isTrue();

            byte[] sent = new byte[1000];
            for (int i = 0; i < sent.length; i++) {
                sent[i] = (byte) i;
            }
            OutputStream out = client.getOutputStream();
            out.write(sent);
            out.flush();

            byte[] received = new byte[sent.length];
            int at = 0;
            while (at < sent.length) {
                byte[] chunk = socket.get();
                assertThat(chunk).as("one read").isNotNull().hasSizeLessThanOrEqualTo(64);
                System.arraycopy(chunk, 0, received, at, chunk.length);
                at += chunk.length;
            }
            assertThat(received).isEqualTo(sent);

            client.close();
            assertThat(socket.get()).as("the end of input").isNull();
        }
    }
}
