package io.cdcnotify.contract;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Contract sections 1 and 4, close code 1001: on SIGTERM the service closes WebSockets with 1001 and ends SSE
 * streams within 10 s, and exits within 30 s. The service runs as its own process ({@code io.cdcnotify.Main}
 * on the test class path, configured by the contract's environment variables, in an empty working directory),
 * because SIGTERM goes through {@code Main}'s shutdown hook, which the in-process harness does not run.
 */
class ShutdownTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final String ADMIN_KEY = "shutdown-admin-key-0123456789";

    @Test
    void onSigtermWebSocketsCloseWith1001AndSseStreamsEndWithinTenSecondsAndTheServiceExitsWithin30Seconds()
            throws Exception {
        int port = freePort();
        Path workDir = Files.createTempDirectory("cdc-shutdown");
        Path log = workDir.resolve("service.log");
        String java = ProcessHandle.current().info().command().orElse("java");
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        ProcessBuilder pb = new ProcessBuilder(java, "-cp", classPath, "io.cdcnotify.Main")
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.put("SERVER_PORT", Integer.toString(port));
        env.put("SERVER_HOST", "127.0.0.1");
        env.put("DB_URL", DB.url());
        env.put("DB_USER", DB.user());
        env.put("DB_PASSWORD", DB.password());
        env.put("CDC_ADMIN_KEY", ADMIN_KEY);
        Process service = pb.start();
        try {
            URI base = URI.create("http://127.0.0.1:" + port);
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).ignoreExceptions()
                    .until(() -> Api.get(base.resolve("/health"), null).status() == 200);
            Api.Response created = Api.postJson(base.resolve("/v1/keys"), ADMIN_KEY,
                                                Map.of("name", "shutdown", "tables", List.of("*")));
            assertThat(created.status()).as(created.body()).isEqualTo(201);
            String key = created.json().get("key").asText();
            try (WsTestClient ws = WsTestClient.connect(URI.create("ws://127.0.0.1:" + port + "/v1/ws"),
                                                        Map.of("Authorization", "Bearer " + key));
                 SseTestClient sse = SseTestClient.open(base.resolve("/v1/events?tables=orders"),
                                                        Map.of("Authorization", "Bearer " + key))) {
                ws.expect("auth_ok");
                ws.subscribe("r1", List.of("orders"));
                sse.expect("subscribed");

                long start = System.nanoTime();
                service.destroy(); // SIGTERM
                WsTestClient.Close close = ws.closeFuture().get(10, TimeUnit.SECONDS);
                sse.awaitEnd(Duration.ofSeconds(10).minusNanos(System.nanoTime() - start));
                assertThat(close.code()).as("close code; service log:\n%s", tail(log)).isEqualTo(1001);
                assertThat(service.waitFor(30, TimeUnit.SECONDS)).as("exited within 30 s").isTrue();
            }
        } finally {
            service.destroyForcibly();
            service.waitFor(10, TimeUnit.SECONDS);
            deleteQuietly(workDir);
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String tail(Path log) {
        try {
            String text = Files.readString(log);
            return text.length() <= 4000 ? text : text.substring(text.length() - 4000);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    private static void deleteQuietly(Path dir) {
        File[] files = dir.toFile().listFiles();
        if (files != null) {
            for (File f : files) {
                f.delete();
            }
        }
        dir.toFile().delete();
    }
}
