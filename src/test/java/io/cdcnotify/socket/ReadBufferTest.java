package io.cdcnotify.socket;

import java.io.OutputStream;

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
        try (SocketPair pair = SocketPair.open()) {
            PlainSocket socket = pair.server();
            assertThat(ReadBuffer.shrink(socket, 64)).isTrue();

            byte[] sent = new byte[1000];
            for (int i = 0; i < sent.length; i++) {
                sent[i] = (byte) i;
            }
            OutputStream out = pair.client().getOutputStream();
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

            pair.client().close();
            assertThat(socket.get()).as("the end of input").isNull();
        }
    }
}
