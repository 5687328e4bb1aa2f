package io.cdcnotify.socket;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class AcceptWatchTest {

    @Test
    void aListeningPortIsAcceptingAClosedOneIsNot() throws Exception {
        AcceptWatch watch;
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            watch = new AcceptWatch(new InetSocketAddress("0.0.0.0", server.getLocalPort()), Duration.ofSeconds(1),
                                    () -> false, () -> { });
            assertThat(watch.accepting()).as("checked on the loopback for a wildcard address").isNull();
        }
        assertThat(watch.accepting()).isNotNull();
    }

    @Test
    void theWatchExitsOnceTheServerStopsAcceptingAndNotBefore() throws Exception {
        CountDownLatch exited = new CountDownLatch(1);
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            AcceptWatch watch = new AcceptWatch(new InetSocketAddress(InetAddress.getLoopbackAddress(),
                                                                      server.getLocalPort()),
                                                Duration.ofMillis(20), () -> false, exited::countDown);
            watch.start();
            assertThat(exited.await(300, TimeUnit.MILLISECONDS)).as("exited while the server accepted").isFalse();
        }
        assertThat(exited.await(10, TimeUnit.SECONDS)).as("exited once the server stopped").isTrue();
    }

    @Test
    void aStoppingServiceIsNotAFailure() throws Exception {
        CountDownLatch exited = new CountDownLatch(1);
        AtomicBoolean stopping = new AtomicBoolean(true);
        int port;
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            port = server.getLocalPort();
        }
        Thread t = new AcceptWatch(new InetSocketAddress(InetAddress.getLoopbackAddress(), port),
                                   Duration.ofMillis(20), stopping::get, exited::countDown).start();
        t.join(Duration.ofSeconds(10));
        assertThat(t.isAlive()).isFalse();
        assertThat(exited.getCount()).isEqualTo(1);
    }
}
