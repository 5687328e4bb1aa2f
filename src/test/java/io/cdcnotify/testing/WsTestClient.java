package io.cdcnotify.testing;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The well-behaved WebSocket client of the tests, on the JDK's {@link WebSocket}: every text message lands in a
 * queue as JSON, and the close code and reason are kept. {@link #pause()} stops reading from the socket (the JDK
 * only reads while there is demand), which is how a test makes a slow consumer. {@link #close()} aborts the TCP
 * connection, as a client that vanishes does; {@link #closingCleanly()} makes it end with a close frame instead,
 * for tests that watch the server count a connection gone at once. For frames no library would send, or a reader
 * that never reads, see {@link RawWsClient}.
 */
public final class WsTestClient implements WebSocket.Listener, AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    public static final Duration WAIT = Duration.ofSeconds(10);

    private final BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>();
    private final CompletableFuture<Close> closed = new CompletableFuture<>();
    private final StringBuilder partial = new StringBuilder();
    private volatile boolean paused;
    private volatile WebSocket socket;
    private volatile boolean cleanClose;
    private JsonNode authOk;

    /** A closing handshake or a dropped connection ({@code code} 1006 then). */
    public record Close(int code, String reason) {
    }

    private WsTestClient() {
    }

    public static WsTestClient connect(URI uri) {
        return connect(uri, Map.of());
    }

    public static WsTestClient connect(URI uri, Map<String, String> headers) {
        return connect(HTTP, uri, headers);
    }

    /** Connects through {@code http} (one with its own TLS context, say). */
    public static WsTestClient connect(HttpClient http, URI uri, Map<String, String> headers) {
        WsTestClient client = new WsTestClient();
        WebSocket.Builder builder = http.newWebSocketBuilder().connectTimeout(WAIT);
        headers.forEach(builder::header);
        client.socket = builder.buildAsync(uri, client).orTimeout(10, TimeUnit.SECONDS).join();
        return client;
    }

    /** Connects with the key in the Authorization header and waits for {@code auth_ok}. */
    public static WsTestClient authenticated(CdcServer server, String key) {
        return authenticated(server.ws("/v1/ws"), key);
    }

    /** {@link #authenticated(CdcServer, String)} on a server known by its URI (one in a child JVM, say). */
    public static WsTestClient authenticated(URI uri, String key) {
        return authenticated(uri, Map.of("Authorization", "Bearer " + key));
    }

    /** Connects (the key in the query, say) and waits for {@code auth_ok}. */
    public static WsTestClient authenticated(CdcServer server, String pathAndQuery, Map<String, String> headers) {
        return authenticated(server.ws(pathAndQuery), headers);
    }

    private static WsTestClient authenticated(URI uri, Map<String, String> headers) {
        WsTestClient client = connect(uri, headers);
        try {
            client.authOk = client.expect("auth_ok");
            return client;
        } catch (RuntimeException | AssertionError e) {
            client.close();
            throw e;
        }
    }

    /** The {@code auth_ok} message of a client made by {@code authenticated}. */
    public JsonNode authOk() {
        return authOk;
    }

    /** The connection id the server gave in {@code auth_ok}. */
    public String connectionId() {
        return authOk.get("connection_id").asText();
    }

    /** Makes {@link #close()} end the connection with a close frame, as {@link #closeCleanly()} does. */
    public WsTestClient closingCleanly() {
        cleanClose = true;
        return this;
    }

    public void send(String text) {
        socket.sendText(text, true).orTimeout(10, TimeUnit.SECONDS).join();
    }

    public void send(Map<String, ?> message) {
        try {
            send(JSON.writeValueAsString(message));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Subscribes to tables and returns the {@code subscribed} answer. */
    public JsonNode subscribe(String requestId, List<String> tables) {
        send(Map.of("type", "subscribe", "request_id", requestId, "tables", tables));
        return expect("subscribed");
    }

    /** The next message, whatever it is. */
    public JsonNode next() {
        return next(WAIT);
    }

    public JsonNode next(Duration wait) {
        return poll(wait).orElseThrow(() -> new AssertionError("no message within " + wait));
    }

    /** The next message if one comes within {@code wait}: for loops that go on when nothing came. */
    public Optional<JsonNode> poll(Duration wait) {
        try {
            return Optional.ofNullable(messages.poll(wait.toMillis(), TimeUnit.MILLISECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** The next message, which must be of this type. */
    public JsonNode expect(String type) {
        JsonNode m = next();
        if (!type.equals(m.path("type").asText())) {
            throw new AssertionError("expected " + type + " but got " + m);
        }
        return m;
    }

    /** Skips messages until one matches. */
    public JsonNode until(Predicate<JsonNode> wanted, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no matching message within " + wait);
            }
            JsonNode m = next(Duration.ofNanos(left));
            if (wanted.test(m)) {
                return m;
            }
        }
    }

    /** Collects {@code n} events ({@code cdc_event} messages' inner event), failing on any other message. */
    public List<JsonNode> events(int n, Duration wait) {
        List<JsonNode> events = new ArrayList<>(n);
        long deadline = System.nanoTime() + wait.toNanos();
        while (events.size() < n) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("got " + events.size() + " of " + n + " events within " + wait);
            }
            JsonNode m = next(Duration.ofNanos(left));
            if (!"cdc_event".equals(m.path("type").asText())) {
                throw new AssertionError("expected an event but got " + m);
            }
            events.add(m.get("event"));
        }
        return events;
    }

    /** Messages already received and not yet taken. */
    public List<JsonNode> drain() {
        List<JsonNode> all = new ArrayList<>();
        messages.drainTo(all);
        return all;
    }

    /** Waits for the connection to close. */
    public Close closed() {
        return closed.copy().orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS).join();
    }

    public CompletableFuture<Close> closeFuture() {
        return closed;
    }

    /** Stops reading: the server's writes pile up in the TCP buffers. */
    public void pause() {
        paused = true;
    }

    /** Reads again. */
    public void resume() {
        paused = false;
        socket.request(1);
    }

    @Override
    public void onOpen(WebSocket webSocket) {
        webSocket.request(1);
    }

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
        partial.append(data);
        if (last) {
            String text = partial.toString();
            partial.setLength(0);
            try {
                messages.add(JSON.readTree(text));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                messages.add(JSON.getNodeFactory().objectNode().put("type", "<not json>").put("text", text));
            }
        }
        if (!paused) {
            webSocket.request(1);
        }
        return null;
    }

    @Override
    public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
        closed.complete(new Close(statusCode, reason));
        return null;
    }

    @Override
    public void onError(WebSocket webSocket, Throwable error) {
        closed.complete(new Close(1006, String.valueOf(error)));
    }

    /**
     * Sends a close frame (1000) and waits up to {@link #WAIT} for the server's; a server that does not answer is
     * left to the caller's assertions.
     */
    public void closeCleanly() {
        if (!closed.isDone()) {
            if (!socket.isOutputClosed()) {
                socket.sendClose(WebSocket.NORMAL_CLOSURE, "bye").orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS).join();
            }
            if (paused) {
                resume(); // the server's close frame is read only on demand
            }
            closed.copy().orTimeout(WAIT.toSeconds(), TimeUnit.SECONDS).exceptionally(t -> null).join();
        }
    }

    /** Aborts the TCP connection, or closes with a frame if {@link #closingCleanly()} was asked. */
    @Override
    public void close() {
        if (cleanClose) {
            closeCleanly();
        } else if (!closed.isDone()) {
            socket.abort();
        }
    }
}
