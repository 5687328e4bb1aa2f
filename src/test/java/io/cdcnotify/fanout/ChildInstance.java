package io.cdcnotify.fanout;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;

import static org.awaitility.Awaitility.await;

/**
 * The service in a JVM of its own ({@code java -cp <the test class path> io.cdcnotify.Main}), so a test can
 * end it with SIGKILL as a crash would. Its pooled connections carry {@code application_name} = its name.
 */
final class ChildInstance implements AutoCloseable {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    final String name;
    final int port;
    private final Process process;
    final Path log;

    private ChildInstance(String name, int port, Process process, Path log) {
        this.name = name;
        this.port = port;
        this.process = process;
        this.log = log;
    }

    /**
     * @param settings configuration keys, passed as system properties
     */
    static ChildInstance start(String name, TestDatabase db, Map<String, String> settings) throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.add("-Xmx192m");
        command.add("-XX:TieredStopAtLevel=1");
        settings.forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add("io.cdcnotify.Main");
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().put("DB_URL", db.url() + "?ApplicationName=" + name);
        builder.environment().put("DB_USER", db.user());
        builder.environment().put("DB_PASSWORD", db.password());
        builder.environment().put("CDC_ADMIN_KEY", CdcServer.ADMIN_KEY);
        builder.environment().put("SERVER_PORT", Integer.toString(port));
        builder.environment().put("SERVER_HOST", "127.0.0.1");
        Path log = Files.createTempFile("cdc-" + name + "-", ".log");
        builder.redirectErrorStream(true).redirectOutput(log.toFile());
        return new ChildInstance(name, port, builder.start(), log);
    }

    /** Waits until {@code /health} answers 200. */
    ChildInstance awaitHealthy(Duration within) {
        await().atMost(within).pollInterval(Duration.ofMillis(200)).until(() -> {
            if (!process.isAlive()) {
                throw new AssertionError(name + " exited: " + Files.readString(log));
            }
            return health() == 200;
        });
        return this;
    }

    int health() {
        try {
            return HTTP.send(HttpRequest.newBuilder(http("/health")).timeout(Duration.ofSeconds(2)).build(),
                             HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    URI http(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    URI ws(String path) {
        return URI.create("ws://127.0.0.1:" + port + path);
    }

    boolean alive() {
        return process.isAlive();
    }

    /** SIGKILL: no shutdown hook, no goodbye to NATS or PostgreSQL. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                kill();
            }
        }
        log.toFile().deleteOnExit();
    }
}
