package io.cdcnotify.socket;

import java.io.InputStream;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link RawInput} reaches the JDK socket under Helidon's plain socket: this fails when a Helidon upgrade moves or
 * renames the field (SSE streams then wait through Helidon's stream, four frames deeper each).
 */
class RawInputTest {

    @Test
    void itReadsWhatTheClientSendsAndThenTheEndOfInput() throws Exception {
        try (SocketPair pair = SocketPair.open()) {
            InputStream in = RawInput.of(pair.server()).orElseThrow();

            pair.client().getOutputStream().write(new byte[] {1, 2, 3});
            pair.client().getOutputStream().flush();
            assertThat(in.readNBytes(3)).containsExactly(1, 2, 3);

            pair.client().close();
            assertThat(in.read()).as("the end of input").isEqualTo(-1);
        }
    }
}
