package io.cdcnotify.socket;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class ConnectionCapTest {

    @Test
    void theCapIsTheLimitsRoomOverTheOpenFilesLessTheMargin() {
        assertThat(ConnectionCap.cap(20_000, 150)).isEqualTo(20_000 - 150 - ConnectionCap.MARGIN);
    }

    @Test
    void aLimitWithNoRoomStillLeavesTheFloor() {
        assertThat(ConnectionCap.cap(300, 200)).isEqualTo(ConnectionCap.FLOOR);
    }

    @Test
    void anUnlimitedProcessIsCappedAtTheLargestInt() {
        assertThat(ConnectionCap.cap(Long.MAX_VALUE, 100)).isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void thisProcessHasACap() {
        assertThat(ConnectionCap.fromOpenFileLimit()).isPresent();
    }
}
