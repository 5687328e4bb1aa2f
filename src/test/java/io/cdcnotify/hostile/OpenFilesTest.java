package io.cdcnotify.hostile;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A client (no key needed) opens TCP connections until the service runs out of files: the service, started with a
 * low open-file limit, holds its cap of connections, leaves the rest waiting in the listen backlog, and accepts
 * again once they close, {@code /health} included, while a client connected before gets every event. Without the
 * cap, Helidon's accept loop ends for good at the first "Too many open files".
 */
class OpenFilesTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    /** The child's open-file limit, soft and hard. */
    static final int LIMIT = 700;
    private static final Pattern CAP = Pattern.compile("accepting at most (\\d+) connections");

    @Test
    void socketsPastTheOpenFileLimitWaitAndTheServiceAcceptsAgainOnceTheyClose() throws Exception {
        try (ChildService service = ChildService.start(DB, OpenFilesTest.class, "128m", Map.of(), "io.cdcnotify.Main",
                                                       List.of("prlimit", "--nofile=" + LIMIT + ":" + LIMIT, "--"))) {
            int cap = service.stdoutLines().stream().map(CAP::matcher).filter(Matcher::find)
                    .map(m -> Integer.parseInt(m.group(1))).findFirst()
                    .orElseThrow(() -> new AssertionError("no connection cap in the start log:\n" + service.tail()));
            assertThat(cap).as("the cap leaves files for the process itself").isBetween(16, LIMIT - 256);
            int mark = service.logMark();
            Bystander bystander = Bystander.start(service, DB, "steady");
            List<SocketChannel> sockets = new ArrayList<>();
            try {
                InetSocketAddress address = new InetSocketAddress("127.0.0.1", service.port());
                for (int i = 0; i < 2 * LIMIT; i++) {
                    SocketChannel socket = SocketChannel.open();
                    socket.configureBlocking(false);
                    socket.connect(address); // completed by the kernel's backlog, accepted or not
                    sockets.add(socket);
                }
                // the service takes connections up to its cap (with the bystander's): then it holds that many
                // sockets, and the others wait; past its limit it would have lost its accept loop instead
                await().atMost(Duration.ofSeconds(60)).untilAsserted(
                        () -> assertThat(openSockets(service.pid())).isGreaterThanOrEqualTo(cap));
                assertThat(openSockets(service.pid())).isLessThanOrEqualTo(cap + 32);
                service.assertAlive();
            } finally {
                for (SocketChannel socket : sockets) {
                    close(socket);
                }
            }
            service.awaitHealthy(Duration.ofSeconds(60));
            bystander.assertReceivedEverything();
            bystander.close();
            assertThat(service.stdoutLines()).noneMatch(line -> line.contains("terminating now"));
            service.assertNoStackTraceSince(mark);
        }
    }

    /**
     * With the cap set over the limit (an operator's mistake), the accept loop does fail at "Too many open files"
     * and Helidon closes the listening socket: the process then exits with status 70 and says why, for its
     * supervisor to restart it, instead of running on and serving nothing ({@code socket/AcceptWatch}).
     */
    @Test
    void whenTheAcceptLoopFailsAnywayTheProcessExitsWithStatus70() throws Exception {
        try (ChildService service = ChildService.start(DB, OpenFilesTest.class, "128m",
                                                       Map.of("server.max-tcp-connections", "100000"),
                                                       "io.cdcnotify.Main",
                                                       List.of("prlimit", "--nofile=" + LIMIT + ":" + LIMIT, "--"))) {
            List<SocketChannel> sockets = new ArrayList<>();
            try {
                InetSocketAddress address = new InetSocketAddress("127.0.0.1", service.port());
                for (int i = 0; i < 2 * LIMIT && service.alive(); i++) {
                    SocketChannel socket = SocketChannel.open();
                    socket.configureBlocking(false);
                    socket.connect(address);
                    sockets.add(socket);
                }
                OptionalInt exit = service.awaitExit(Duration.ofSeconds(60));
                assertThat(exit).as("the service's exit status").hasValue(70);
            } finally {
                for (SocketChannel socket : sockets) {
                    close(socket);
                }
            }
            assertThat(service.stdoutLines()).anyMatch(line -> line.contains("no longer accepts connections"));
        }
    }

    /** The service's open sockets, from /proc (its files that are sockets: clients, database, LISTEN). */
    private static long openSockets(long pid) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().startsWith("socket:");
                } catch (IOException e) {
                    return false; // closed meanwhile
                }
            }).count();
        }
    }

    private static void close(SocketChannel socket) {
        try {
            socket.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
