package io.cdcnotify.security;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/** HTTPS and WSS from a configured keystore; CORS only for configured origins. */
class TlsAndCorsTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @TempDir
    static Path dir;

    private static CdcServer server;
    private static HttpClient https;

    @BeforeAll
    static void start() throws Exception {
        Path keystore = dir.resolve("server.p12");
        // a self-signed certificate for 127.0.0.1, made with the JDK's keytool
        Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                                             "-genkeypair", "-alias", "1", "-keyalg", "RSA", "-keysize", "2048",
                                             "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1",
                                             "-validity", "2", "-storetype", "PKCS12", "-keystore", keystore.toString(),
                                             "-storepass", "changeit", "-keypass", "changeit")
                .redirectErrorStream(true).start();
        assertThat(keytool.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(keytool.exitValue()).as(new String(keytool.getInputStream().readAllBytes())).isZero();

        server = CdcServer.start(DB, Map.of(
                "server.tls.private-key.keystore.resource.path", keystore.toString(),
                "server.tls.private-key.keystore.passphrase", "changeit",
                "cdc.cors.allowed-origins", "https://app.example.com"));

        KeyStore trust = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keystore)) {
            trust.load(in, "changeit".toCharArray());
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        https = HttpClient.newBuilder().sslContext(ssl).connectTimeout(Duration.ofSeconds(10)).build();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void healthAnswersOverHttps() throws Exception {
        HttpResponse<String> r = https.send(HttpRequest.newBuilder(https("/health")).build(),
                                            HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("\"status\":\"UP\"");
    }

    @Test
    void plainHttpIsNotServedOnATlsPort() {
        Throwable failure = null;
        try {
            HttpClient.newHttpClient().send(HttpRequest.newBuilder(server.http("/health")).timeout(Duration.ofSeconds(5)).build(),
                                            HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            failure = e;
        }
        assertThat(failure).isNotNull();
    }

    @Test
    void aWebSocketAuthenticatesOverWss() {
        try (WsTestClient ws = WsTestClient.connect(https, URI.create("wss://127.0.0.1:" + server.port() + "/v1/ws"),
                                                    Map.of("Authorization", "Bearer " + CdcServer.ADMIN_KEY))) {
            assertThat(ws.next().path("type").asText()).isEqualTo("auth_ok");
        }
    }

    /**
     * An SSE stream's handler waits in a read of the TLS socket itself (sse/SseSocket, socket/RawInput): events
     * arrive, and a client that goes is noticed at once.
     */
    @Test
    void anSseStreamOverHttpsGetsItsEventsAndItsEndIsNoticed() throws Exception {
        HttpResponse<Stream<String>> r = https.send(HttpRequest.newBuilder(https("/v1/events?tables=tls_orders"))
                                                            .header("Authorization", "Bearer " + CdcServer.ADMIN_KEY)
                                                            .build(), HttpResponse.BodyHandlers.ofLines());
        assertThat(r.statusCode()).isEqualTo(200);
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread.ofVirtual().start(() -> {
            try {
                r.body().forEach(lines::add);
            } catch (RuntimeException e) {
                // the stream closed below
            }
        });
        awaitLine(lines, "event: subscribed"::equals);
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> sseConnections() == 1);
        Outbox.insert(DB, "tls_orders", "INSERT", "{\"tls\":1}");
        awaitLine(lines, "event: cdc_event"::equals);
        assertThat(awaitLine(lines, l -> l.startsWith("data:"))).contains("\"table\":\"tls_orders\"");
        r.body().close();
        Awaitility.await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
                .until(() -> sseConnections() == 0);
    }

    private static String awaitLine(BlockingQueue<String> lines, Predicate<String> wanted) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (true) {
            String line = lines.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            assertThat(line).as("a line within 10 s").isNotNull();
            if (wanted.test(line)) {
                return line;
            }
        }
    }

    private static int sseConnections() throws Exception {
        HttpResponse<String> state = https.send(HttpRequest.newBuilder(https("/v1/state"))
                                                        .header("Authorization", "Bearer " + CdcServer.ADMIN_KEY)
                                                        .build(), HttpResponse.BodyHandlers.ofString());
        return new ObjectMapper().readTree(state.body()).get("connections").get("sse").asInt();
    }

    @Test
    void anAllowedOriginGetsCorsHeadersAndPassesPreflight() throws Exception {
        HttpResponse<String> preflight = https.send(HttpRequest.newBuilder(https("/v1/events?tables=orders"))
                                                            .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                                                            .header("Origin", "https://app.example.com")
                                                            .header("Access-Control-Request-Method", "GET")
                                                            .header("Access-Control-Request-Headers", "authorization")
                                                            .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(preflight.statusCode()).isEqualTo(204);
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).hasValue("https://app.example.com");
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Headers").orElse("")).contains("Authorization");

        HttpResponse<String> get = https.send(HttpRequest.newBuilder(https("/health"))
                                                      .header("Origin", "https://app.example.com").build(),
                                              HttpResponse.BodyHandlers.ofString());
        assertThat(get.headers().firstValue("Access-Control-Allow-Origin")).hasValue("https://app.example.com");
    }

    @Test
    void anOtherOriginGetsNoCorsHeadersAndFailsPreflight() throws Exception {
        HttpResponse<String> preflight = https.send(HttpRequest.newBuilder(https("/v1/keys"))
                                                            .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                                                            .header("Origin", "https://evil.example.com")
                                                            .header("Access-Control-Request-Method", "POST")
                                                            .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(preflight.statusCode()).isEqualTo(403);
        assertThat(preflight.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();

        HttpResponse<String> get = https.send(HttpRequest.newBuilder(https("/health"))
                                                      .header("Origin", "https://evil.example.com").build(),
                                              HttpResponse.BodyHandlers.ofString());
        assertThat(get.statusCode()).isEqualTo(200);
        assertThat(get.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
    }

    private static URI https(String path) {
        return URI.create("https://127.0.0.1:" + server.port() + path);
    }

}
