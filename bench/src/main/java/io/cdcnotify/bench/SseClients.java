package io.cdcnotify.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Flow;
import java.util.concurrent.Semaphore;

/**
 * SSE clients on the JDK's {@link HttpClient}: each streams {@code /v1/events?tables=<its table>} and cuts the
 * body into messages at the empty line itself, inside the client's executor, so no thread waits per stream
 * ({@code --sse-client jdk}; {@link NioSseClients} is the default).
 */
final class SseClients implements SseDriver {

    private static final String EVENT_LINE = "event: cdc_event\n";
    private static final String DATA = "data: ";

    private final HttpClient http;
    private final String[] baseUrls;
    private final java.util.Map<Integer, Integer> perTable = new java.util.HashMap<>();
    private final String key;
    private final String tablePrefix;
    private final Stats stats;
    private final List<Stream> streams = new ArrayList<>();
    private volatile boolean closing;

    SseClients(String baseUrl, String key, String tablePrefix, Stats stats, ExecutorService executor) {
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .executor(executor)
                .connectTimeout(Duration.ofSeconds(30))
                .build();
        this.baseUrls = java.util.Arrays.stream(baseUrl.split(",")).map(String::trim).toArray(String[]::new);
        this.key = key;
        this.tablePrefix = tablePrefix;
        this.stats = stats;
    }

    @Override
    public void open(int table, ClientFilter filter, Semaphore gate) throws InterruptedException {
        gate.acquire();
        Stats.Receiver receiver = stats.newReceiver(Stats.SSE, table, filter);
        receiver.hold(gate); // released at `subscribed`, or when the stream fails
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrls[instance(table)] + "/v1/events?tables=" + tablePrefix + table
                                                                + (filter == null ? "" : filter.sseQuery())))
                .header("Authorization", "Bearer " + key)
                .header("Accept", "text/event-stream")
                .GET()
                .build();
        Stream stream = new Stream(receiver);
        streams.add(stream);
        CompletableFuture<HttpResponse<Void>> response = http.sendAsync(request, stream);
        response.whenComplete((r, e) -> {
            receiver.release();
            receiver.closed = true;
            if (!closing) {
                stats.closedEarly.increment();
                stats.error(e != null ? "sse stream failed: " + e : "sse stream ended: HTTP " + r.statusCode());
            }
        });
    }

    @Override
    public void closing() {
        closing = true;
    }

    /**
     * Which instance the next client of {@code table} goes to: a table's clients rotate over the instances,
     * starting at a different one per table, so every instance gets as many clients and a share of every table's.
     */
    private int instance(int table) {
        int k = perTable.merge(table, 1, Integer::sum) - 1;
        return (table + k) % baseUrls.length;
    }

    @Override
    public void close() {
        closing = true;
        for (Stream s : streams) {
            s.cancel();
        }
    }

    /** One stream: its response handler and body subscriber at once. */
    private final class Stream implements HttpResponse.BodyHandler<Void>, HttpResponse.BodySubscriber<Void> {
        private final Stats.Receiver receiver;
        private final CompletableFuture<Void> body = new CompletableFuture<>();
        private volatile Flow.Subscription subscription;
        private byte[] buf = new byte[8192];
        private int len;
        private int scanned;

        Stream(Stats.Receiver receiver) {
            this.receiver = receiver;
        }

        void cancel() {
            Flow.Subscription s = subscription;
            if (s != null) {
                s.cancel();
            }
        }

        @Override
        public HttpResponse.BodySubscriber<Void> apply(HttpResponse.ResponseInfo info) {
            if (info.statusCode() != 200) {
                receiver.release();
                stats.error("sse refused: HTTP " + info.statusCode());
                return HttpResponse.BodySubscribers.replacing(null);
            }
            return this;
        }

        @Override
        public CompletionStage<Void> getBody() {
            return body;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> items) {
            for (ByteBuffer b : items) {
                int n = b.remaining();
                if (len + n > buf.length) {
                    buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
                }
                b.get(buf, len, n);
                len += n;
            }
            int start = 0;
            for (int i = Math.max(scanned, 1); i < len; i++) {
                if (buf[i] == '\n' && buf[i - 1] == '\n') {
                    message(start, i - 1);
                    start = i + 1;
                    i++;
                }
            }
            if (start > 0) {
                System.arraycopy(buf, start, buf, 0, len - start);
                len -= start;
            }
            scanned = Math.max(len - 1, 0);
        }

        /** One SSE message, without its final empty line: bytes {@code [from, to)}. */
        private void message(int from, int to) {
            // ISO-8859-1 keeps byte offsets: the fields read are ASCII, the rest may be UTF-8
            String text = new String(buf, from, to - from, StandardCharsets.ISO_8859_1);
            int event = text.indexOf(EVENT_LINE);
            if (event >= 0) {
                int data = text.indexOf(DATA, event);
                if (!Events.report(receiver, buf, data < 0 ? -1 : from + data, from, to)) {
                    stats.error("sse event without id: " + text);
                }
            } else if (text.contains("event: subscribed\n")) {
                receiver.subscribed();
            } else if (!text.startsWith(":")) {
                stats.error("sse message: " + text);
            }
        }

        @Override
        public void onError(Throwable t) {
            body.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            body.complete(null);
        }
    }
}
