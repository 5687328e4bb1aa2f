package io.cdcnotify.fanout;

import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.awaitility.Awaitility.await;

/**
 * A NATS server of a test's own ({@code /usr/sbin/nats-server -js}), on a free port with its own store, that
 * the test may kill and start again (the shared server on 4222 must never be restarted by a test).
 */
final class NatsServer implements AutoCloseable {

    private static final String BINARY = System.getenv().getOrDefault("CDC_TEST_NATS_SERVER", "/usr/sbin/nats-server");

    private final int port;
    private final Path store;
    private Process process;

    private NatsServer(int port, Path store) {
        this.port = port;
        this.store = store;
    }

    static NatsServer start() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        NatsServer server = new NatsServer(port, Files.createTempDirectory("cdc-nats-"));
        server.startAgain();
        return server;
    }

    String url() {
        return "nats://127.0.0.1:" + port;
    }

    int port() {
        return port;
    }

    /** Starts the server (again, on the same port and store) and waits until it accepts connections. */
    void startAgain() throws IOException {
        process = new ProcessBuilder(BINARY, "-a", "127.0.0.1", "-p", Integer.toString(port), "-js", "-sd", store.toString())
                .redirectErrorStream(true)
                .redirectOutput(new File(store.toFile(), "server.log"))
                .start();
        await().atMost(Duration.ofSeconds(10)).until(this::answers);
    }

    /** SIGTERM: the server shuts down as in a restart by an operator. */
    void stop() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            kill();
        }
    }

    /** SIGKILL: the server is gone at once, as in a crash. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    private boolean answers() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() throws Exception {
        if (process != null) {
            kill();
        }
        try (Stream<Path> files = Files.walk(store)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
