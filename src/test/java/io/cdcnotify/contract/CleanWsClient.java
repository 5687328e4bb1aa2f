package io.cdcnotify.contract;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.CdcServer;

/**
 * A WebSocket client that ends its connections the way a well-behaved client does, with a close frame
 * ({@code WsTestClient.close()} aborts the TCP connection instead, which the server may notice only much later).
 */
final class CleanWsClient implements WebSocket.Listener, AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>();
    private final CompletableFuture<Integer> closed = new CompletableFuture<>();
    private final StringBuilder partial = new StringBuilder();
    private WebSocket socket;

    private CleanWsClient() {
    }

    static CleanWsClient connect(URI uri, Map<String, String> headers) {
        CleanWsClient client = new CleanWsClient();
        WebSocket.Builder builder = HTTP.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
        headers.forEach(builder::header);
        client.socket = builder.buildAsync(uri, client).orTimeout(10, TimeUnit.SECONDS).join();
        return client;
    }

    /** Connects with the key in the header and returns the {@code auth_ok} message. */
    static CleanWsClient authenticated(CdcServer server, String key) {
        CleanWsClient client = connect(server.ws("/v1/ws"), Map.of("Authorization", "Bearer " + key));
        JsonNode first = client.next();
        if (!"auth_ok".equals(first.path("type").asText())) {
            throw new AssertionError("expected auth_ok but got " + first);
        }
        client.authOk = first;
        return client;
    }

    private JsonNode authOk;

    JsonNode authOk() {
        return authOk;
    }

    void send(Map<String, ?> message) {
        try {
            socket.sendText(JSON.writeValueAsString(message), true).orTimeout(10, TimeUnit.SECONDS).join();
        } catch (IOException e) {
            throw new IllegalArgumentException(e);
        }
    }

    JsonNode next() {
        try {
            JsonNode m = messages.poll(10, TimeUnit.SECONDS);
            if (m == null) {
                throw new AssertionError("no message within 10 s");
            }
            return m;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    JsonNode expect(String type) {
        JsonNode m = next();
        if (!type.equals(m.path("type").asText())) {
            throw new AssertionError("expected " + type + " but got " + m);
        }
        return m;
    }

    /** Sends a close frame (1000) and waits for the server's. */
    void closeCleanly() {
        if (!closed.isDone()) {
            socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").orTimeout(10, TimeUnit.SECONDS).join();
            closed.orTimeout(10, TimeUnit.SECONDS).exceptionally(t -> -1).join();
        }
    }

    @Override
    public void onOpen(WebSocket webSocket) {
        webSocket.request(1);
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
        partial.append(data);
        if (last) {
            try {
                messages.add(JSON.readTree(partial.toString()));
            } catch (IOException e) {
                messages.add(JSON.getNodeFactory().objectNode().put("type", "<not json>"));
            }
            partial.setLength(0);
        }
        webSocket.request(1);
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
        closed.complete(statusCode);
        return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
        closed.complete(1006);
    }

    @Override
    public void close() {
        closeCleanly();
    }
}
