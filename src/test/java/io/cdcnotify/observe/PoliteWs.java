package io.cdcnotify.observe;

import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.CdcServer;

/**
 * A WebSocket client that says goodbye with a close frame, so that the server counts it gone at once
 * ({@code WsTestClient.close()} aborts the TCP connection, which the server may notice only at its next write,
 * and that would blur the connection gauges these tests watch).
 */
final class PoliteWs implements WebSocket.Listener, AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>();
    private final StringBuilder partial = new StringBuilder();
    private WebSocket socket;
    private String connectionId;

    /** Connects with the key in the header and waits for {@code auth_ok}. */
    static PoliteWs authenticated(CdcServer server, String key) {
        return authenticated(server, "/v1/ws", Map.of("Authorization", "Bearer " + key));
    }

    /** Connects (the key in the query, say) and waits for {@code auth_ok}. */
    static PoliteWs authenticated(CdcServer server, String pathAndQuery, Map<String, String> headers) {
        PoliteWs ws = new PoliteWs();
        WebSocket.Builder builder = HTTP.newWebSocketBuilder().connectTimeout(WAIT);
        headers.forEach(builder::header);
        ws.socket = builder.buildAsync(server.ws(pathAndQuery), ws).orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS).join();
        ws.connectionId = ws.expect("auth_ok").get("connection_id").asText();
        return ws;
    }

    String connectionId() {
        return connectionId;
    }

    void send(String text) {
        socket.sendText(text, true).orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS).join();
    }

    void send(Map<String, ?> message) {
        try {
            send(JSON.writeValueAsString(message));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    JsonNode next(Duration wait) {
        try {
            JsonNode m = messages.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
            if (m == null) {
                throw new AssertionError("no message within " + wait);
            }
            return m;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The next message, which must be of this type. */
    JsonNode expect(String type) {
        JsonNode m = next(WAIT);
        if (!type.equals(m.path("type").asText())) {
            throw new AssertionError("expected " + type + " but got " + m);
        }
        return m;
    }

    JsonNode subscribe(String requestId, List<String> tables) {
        send(Map.of("type", "subscribe", "request_id", requestId, "tables", tables));
        return expect("subscribed");
    }

    /** The next {@code n} events (inner event objects); any other message fails. */
    List<JsonNode> events(int n, Duration wait) {
        List<JsonNode> events = new ArrayList<>(n);
        long deadline = System.nanoTime() + wait.toNanos();
        while (events.size() < n) {
            JsonNode m = next(Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
            if (!"cdc_event".equals(m.path("type").asText())) {
                throw new AssertionError("expected an event but got " + m);
            }
            events.add(m.get("event"));
        }
        return events;
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
        partial.append(data);
        if (last) {
            try {
                messages.add(JSON.readTree(partial.toString()));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                messages.add(JSON.getNodeFactory().objectNode().put("type", "<not json>"));
            }
            partial.setLength(0);
        }
        webSocket.request(1);
        return null;
    }

    @Override
    public void close() {
        if (!socket.isOutputClosed()) {
            socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS).join();
        }
    }
}
