package io.cdcnotify.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * An SSE client for tests: parses the stream line by line as the spec says (fields, comments, the blank line
 * that ends a message) on a virtual thread, and queues each message. Comments ({@code : keepalive}) are queued
 * too, as messages with event {@code ":comment"}.
 */
public final class SseTestClient implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /** One SSE message: the {@code id}, {@code event} and joined {@code data} fields, and {@code retry} if any. */
    public record Event(String id, String event, String data, String retry) {
        public JsonNode json() {
            try {
                return JSON.readTree(data);
            } catch (IOException e) {
                throw new AssertionError("data is not JSON: " + data, e);
            }
        }
    }

    private final HttpResponse<InputStream> response;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final CompletableFuture<Void> ended = new CompletableFuture<>();
    private final String body;
    private final Object pauseLock = new Object();
    private boolean paused;

    private SseTestClient(HttpResponse<InputStream> response) throws IOException {
        this.response = response;
        if (response.statusCode() == 200) {
            this.body = null;
            Thread.ofVirtual().name("sse-test-reader").start(this::read);
        } else {
            try (InputStream in = response.body()) {
                this.body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            ended.complete(null);
        }
    }

    public static SseTestClient open(URI uri) {
        return open(uri, Map.of());
    }

    public static SseTestClient open(URI uri, Map<String, String> headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofHours(1)).GET();
        headers.forEach(request::header);
        try {
            return new SseTestClient(HTTP.send(request.build(), HttpResponse.BodyHandlers.ofInputStream()));
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Opens a stream of tables with the key in the header and waits for {@code subscribed}. */
    public static SseTestClient subscribed(CdcServer server, String key, String tables) {
        SseTestClient client = open(server.http("/v1/events?tables=" + tables), Map.of("Authorization", "Bearer " + key));
        if (client.status() != 200) {
            throw new AssertionError("stream refused: " + client.status() + " " + client.body());
        }
        client.expect("subscribed");
        return client;
    }

    public int status() {
        return response.statusCode();
    }

    public HttpResponse<InputStream> response() {
        return response;
    }

    /** The body of a refused stream. */
    public String body() {
        return body;
    }

    public JsonNode bodyJson() {
        try {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw new AssertionError("body is not JSON: " + body, e);
        }
    }

    public Event next() {
        return next(WsTestClient.WAIT);
    }

    public Event next(Duration wait) {
        try {
            Event e = events.poll(wait.toMillis(), TimeUnit.MILLISECONDS);
            if (e == null) {
                throw new AssertionError("no SSE message within " + wait);
            }
            return e;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new AssertionError(ex);
        }
    }

    /** The next message that is not a comment, which must be of this event type. */
    public Event expect(String event) {
        Event e = next();
        while (":comment".equals(e.event())) {
            e = next();
        }
        if (!event.equals(e.event())) {
            throw new AssertionError("expected " + event + " but got " + e);
        }
        return e;
    }

    /** Collects {@code n} {@code cdc_event} messages, skipping comments. */
    public List<Event> events(int n, Duration wait) {
        List<Event> got = new ArrayList<>(n);
        long deadline = System.nanoTime() + wait.toNanos();
        while (got.size() < n) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("got " + got.size() + " of " + n + " events within " + wait);
            }
            Event e = next(Duration.ofNanos(left));
            if (":comment".equals(e.event())) {
                continue;
            }
            if (!"cdc_event".equals(e.event())) {
                throw new AssertionError("expected an event but got " + e);
            }
            got.add(e);
        }
        return got;
    }

    /** Waits for the server to end the stream. */
    public void awaitEnd(Duration wait) {
        ended.orTimeout(wait.toMillis(), TimeUnit.MILLISECONDS).join();
    }

    public boolean ended() {
        return ended.isDone();
    }

    private void read() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            String id = null;
            String event = null;
            String retry = null;
            StringBuilder data = null;
            String line;
            while ((line = readLine(in)) != null) {
                if (line.isEmpty()) {
                    if (data != null || event != null || id != null || retry != null) {
                        events.add(new Event(id, event == null ? "message" : event, data == null ? "" : data.toString(),
                                             retry));
                    }
                    id = event = retry = null;
                    data = null;
                } else if (line.startsWith(":")) {
                    events.add(new Event(null, ":comment", line.substring(1).trim(), null));
                } else {
                    int colon = line.indexOf(':');
                    String field = colon < 0 ? line : line.substring(0, colon);
                    String value = colon < 0 ? "" : line.substring(colon + 1);
                    if (value.startsWith(" ")) {
                        value = value.substring(1);
                    }
                    switch (field) {
                        case "id" -> id = value;
                        case "event" -> event = value;
                        case "retry" -> retry = value;
                        case "data" -> data = data == null ? new StringBuilder(value) : data.append('\n').append(value);
                        default -> { }
                    }
                }
            }
        } catch (IOException e) {
            // the stream was cut
        } finally {
            ended.complete(null);
        }
    }

    /** Stops reading from the socket after the line being read: the server's writes pile up in TCP buffers. */
    public void pause() {
        synchronized (pauseLock) {
            paused = true;
        }
    }

    /** Reads again. */
    public void resume() {
        synchronized (pauseLock) {
            paused = false;
            pauseLock.notifyAll();
        }
    }

    private String readLine(BufferedReader in) throws IOException {
        synchronized (pauseLock) {
            while (paused) {
                try {
                    pauseLock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return null;
                }
            }
        }
        return in.readLine();
    }

    @Override
    public void close() {
        try {
            response.body().close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
