package io.cdcnotify.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * WebSocket clients on the JDK's {@link WebSocket} ({@code --ws-client jdk}; {@link NioWsClients} is the default): each authenticates with the {@code Authorization} header,
 * subscribes to its table on {@code auth_ok}, and hands every {@code cdc_event} to its {@link Stats.Receiver}.
 * {@code --ws-selectors} {@link HttpClient}s (one selector thread each, the clients spread round-robin) and a small
 * executor serve them all: one selector thread reads every frame of every client, and at 100,000 frames/s it is
 * the driver's bottleneck.
 */
final class WsClients implements WsDriver {

    private static final String EVENT_TYPE = "{\"v\":1,\"type\":\"cdc_event\"";
    private static final byte[] EVENT_OBJECT_BYTES = Events.ascii("\"event\":{");

    private final HttpClient[] http;
    private int opened;
    private final URI[] uris;
    private final java.util.Map<Integer, Integer> perTable = new java.util.HashMap<>();
    private final String key;
    private final String tablePrefix;
    private final Stats stats;
    private final List<CompletableFuture<WebSocket>> sockets = new ArrayList<>();

    WsClients(String baseUrl, String key, String tablePrefix, Stats stats, ExecutorService executor, int selectors) {
        this.http = new HttpClient[Math.max(1, selectors)];
        for (int i = 0; i < http.length; i++) {
            http[i] = HttpClient.newBuilder().executor(executor).connectTimeout(Duration.ofSeconds(30)).build();
        }
        // several instances, comma-separated: clients go to them round-robin
        this.uris = java.util.Arrays.stream(baseUrl.split(",")).map(String::trim)
                .map(u -> URI.create(u.replaceFirst("^http", "ws") + "/v1/ws")).toArray(URI[]::new);
        this.key = key;
        this.tablePrefix = tablePrefix;
        this.stats = stats;
    }

    /**
     * Opens one client subscribed to table {@code table}; {@code gate} bounds the clients between connect and
     * {@code subscribed} (the subscribe is where the service does its database work).
     */
    @Override
    public void open(int table, ClientFilter filter, Semaphore gate) throws InterruptedException {
        gate.acquire();
        Stats.Receiver receiver = stats.newReceiver(Stats.WS, table, filter);
        receiver.hold(gate);
        CompletableFuture<WebSocket> ws = http[opened++ % http.length].newWebSocketBuilder()
                .header("Authorization", "Bearer " + key)
                .connectTimeout(Duration.ofSeconds(30))
                .buildAsync(uris[instance(table)], new Listener(receiver, tablePrefix + table, filter));
        ws.whenComplete((s, e) -> {
            if (e != null) {
                receiver.release();
                stats.error("websocket open failed: " + e);
                receiver.closed = true;
            }
        });
        sockets.add(ws);
    }

    /**
     * Which instance the next client of {@code table} goes to: a table's clients rotate over the instances,
     * starting at a different one per table, so every instance gets as many clients and a share of every table's.
     */
    private int instance(int table) {
        int k = perTable.merge(table, 1, Integer::sum) - 1;
        return (table + k) % uris.length;
    }

    @Override
    public void close() {
        for (CompletableFuture<WebSocket> f : sockets) {
            WebSocket ws = f.getNow(null);
            if (ws != null) {
                ws.abort();
            }
        }
    }

    private final class Listener implements WebSocket.Listener {
        private final Stats.Receiver receiver;
        private final String table;
        private final ClientFilter filter;
        private StringBuilder parts;

        Listener(Stats.Receiver receiver, String table, ClientFilter filter) {
            this.receiver = receiver;
            this.table = table;
            this.filter = filter;
        }

        @Override
        public void onOpen(WebSocket ws) {
            ws.request(1);
        }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            if (!last) {
                if (parts == null) {
                    parts = new StringBuilder();
                }
                parts.append(data);
                ws.request(1);
                return null;
            }
            String text;
            if (parts != null && !parts.isEmpty()) {
                text = parts.append(data).toString();
                parts.setLength(0);
            } else {
                text = data.toString();
            }
            handle(ws, text);
            ws.request(1);
            return null;
        }

        private void handle(WebSocket ws, String text) {
            if (text.startsWith(EVENT_TYPE)) {
                byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
                if (!Events.report(receiver, bytes, Events.indexOf(bytes, 0, bytes.length, EVENT_OBJECT_BYTES), 0,
                                   bytes.length)) {
                    stats.error("websocket event without id: " + text);
                }
            } else if (text.contains("\"type\":\"auth_ok\"")) {
                ws.sendText("{\"type\":\"subscribe\",\"request_id\":\"r1\",\"tables\":[\"" + table + "\"]"
                            + (filter == null ? "" : filter.wsMembers()) + "}", true);
            } else if (text.contains("\"type\":\"subscribed\"")) {
                receiver.subscribed();
            } else {
                receiver.release(); // e.g. an error in reply to the subscribe
                stats.error("websocket message: " + text);
            }
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int statusCode, String reason) {
            receiver.closed = true;
            receiver.release();
            if (!closing) {
                stats.closedEarly.increment();
                stats.error("websocket closed by the server: " + statusCode + " " + reason);
            }
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            receiver.closed = true;
            receiver.release();
            if (!closing) {
                stats.closedEarly.increment();
                stats.error("websocket failed: " + error);
            }
        }
    }

    private volatile boolean closing;

    /** From now on, closes are expected. */
    @Override
    public void closing() {
        closing = true;
    }

    static void awaitQuietly(ExecutorService executor) {
        executor.shutdown();
        try {
            executor.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
