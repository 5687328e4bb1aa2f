package io.cdcnotify.observe;

import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.lang.management.RuntimeMXBean;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiPredicate;
import java.util.function.Predicate;
import java.util.stream.Stream;

import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.wire.ErrorCode;
import io.helidon.metrics.api.Counter;
import io.helidon.metrics.api.Meter;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.MetricsFactory;
import io.helidon.metrics.api.Tag;
import io.helidon.metrics.api.Timer;
import io.helidon.service.registry.Services;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * Every meter of the service, created here and nowhere else (contract section 8), so that a change in Helidon's
 * metrics API touches one file. The hub reports through {@link HubMetrics}; gauges read the hub and the
 * listener when scraped.
 *
 * <p>The hot path ({@link #received}, {@link #delivered}, {@link #dropped}, {@link #clientError}) only touches
 * meters held in fields, one per label value: no registry lookup, no tag, no allocation per call. Deliveries, the
 * hottest (once per event per client), only add to striped adders; {@link #publish()}, about once a second, moves
 * their sums into the delivered counters and the lag timer.
 *
 * <p>Meters live in Helidon's global registry, which is the process's. A new {@code Meters} replaces the meters
 * of an earlier one (a test JVM starts one service after another): each service starts with its counters at
 * zero, and gauges read the newest hub.
 */
public final class Meters implements HubMetrics {

    /** The label values of {@code transport}, as {@link io.cdcnotify.hub.Transport#name()} gives them. */
    static final String WEBSOCKET = "websocket";
    static final String SSE = "sse";

    /** Delivery lag buckets: 1 ms to 10 s. */
    static final Duration[] LAG_BUCKETS = Stream.of(1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000)
            .map(ms -> Duration.ofNanos(Math.round(ms.doubleValue() * 1_000_000)))
            .toArray(Duration[]::new);

    /** What the gauges read from the listener. */
    public interface ListenerGauges {
        boolean connected();

        long reconnects();

        /** Seconds since the listener last completed a loop (a read, a return from the LISTEN wait). */
        double lastProgressSeconds();
    }

    /** What the gauges read from relay mode's relay; zeros in database mode. */
    public interface FanoutGauges {
        FanoutGauges NONE = new FanoutGauges() {
        };

        default boolean leader() {
            return false;
        }

        default long published() {
            return 0;
        }

        default long consumerLag() {
            return 0;
        }
    }

    private final MetricsFactory factory;
    private final MeterRegistry registry;

    private final Counter received;
    private final Counter deliveredWebSocket;
    private final Counter deliveredSse;
    /** Indexed by {@link DropReason#ordinal()}. */
    private final Counter[] dropped;
    /** Indexed by {@link ErrorCode#ordinal()}. */
    private final Counter[] clientErrors;
    /*
     * A timer, not a distribution summary: Micrometer rounds a summary's values up to whole numbers before it
     * finds their bucket, which would put every sub-second lag in le="1.0". A timer records nanoseconds and
     * Prometheus shows seconds: cdc_delivery_lag_seconds_bucket/_sum/_count (and _max).
     */
    private final Timer lag;
    private final LongAdder deliveredWebSocketSincePublish = new LongAdder();
    private final LongAdder deliveredSseSincePublish = new LongAdder();
    private final LagRecorder lagRecorder = new LagRecorder(LAG_BUCKETS);
    /** Indexed by status class - 1: 1xx to 5xx. */
    private final Counter[] httpResponses = new Counter[5];

    /*
     * Micrometer's gauges hold the object they read weakly (the listener's view is an object only the gauges
     * reference): these fields keep each alive as long as this Meters.
     */
    private final OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
    private final RuntimeMXBean runtime = ManagementFactory.getRuntimeMXBean();
    private volatile Hub hub;
    private volatile ListenerGauges listener;
    private volatile FanoutGauges fanout;

    public Meters() {
        this(Services.get(MetricsFactory.class));
    }

    Meters(MetricsFactory factory) {
        this.factory = factory;
        this.registry = factory.globalRegistry();
        received = create(factory.counterBuilder("cdc_events_received")
                                  .description("Events read from the outbox"));
        deliveredWebSocket = create(delivered(WEBSOCKET));
        deliveredSse = create(delivered(SSE));
        dropped = new Counter[DropReason.values().length];
        for (DropReason reason : DropReason.values()) {
            dropped[reason.ordinal()] = create(factory.counterBuilder("cdc_events_dropped")
                    .description("Events that did not reach a client: a detached subscription's queue was full, "
                                         + "or the client was a slow consumer")
                    .addTag(Tag.create("reason", reason.label())));
        }
        clientErrors = new Counter[ErrorCode.values().length];
        for (ErrorCode code : ErrorCode.values()) {
            clientErrors[code.ordinal()] = create(factory.counterBuilder("cdc_client_errors")
                    .description("Errors sent to clients, by contract error code")
                    .addTag(Tag.create("code", code.wire())));
        }
        lag = create(factory.timerBuilder("cdc_delivery_lag")
                             .buckets(LAG_BUCKETS)
                             .percentiles(new double[0])
                             .publishPercentileHistogram(false)
                             .description("From an event's created_at in the outbox to its write to a client"));
        for (int c = 1; c <= httpResponses.length; c++) {
            httpResponses[c - 1] = create(factory.counterBuilder("cdc_http_responses")
                    .description("HTTP responses by status class (REST, SSE, /health, /metrics; not WebSocket upgrades)")
                    .addTag(Tag.create("status", c + "xx")));
        }
        processMeters();
    }

    /**
     * Process meters that Helidon's system meters (heap, threads, GC, class loading, system load, JVM uptime) do
     * not cover, under the names Prometheus's own clients use.
     */
    private void processMeters() {
        create(factory.gaugeBuilder("process_start_time_seconds", runtime, r -> r.getStartTime() / 1000.0)
                       .description("Start time of the process since the Unix epoch, in seconds"));
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            create(factory.gaugeBuilder("process_cpu_usage", sun, com.sun.management.OperatingSystemMXBean::getProcessCpuLoad)
                           .description("Recent CPU usage of the process, 0 to 1 of all available processors"));
        }
        if (os instanceof com.sun.management.UnixOperatingSystemMXBean unix) {
            create(factory.gaugeBuilder("process_open_fds", unix,
                                        com.sun.management.UnixOperatingSystemMXBean::getOpenFileDescriptorCount)
                           .description("Open file descriptors (each connection holds one)"));
            create(factory.gaugeBuilder("process_max_fds", unix,
                                        com.sun.management.UnixOperatingSystemMXBean::getMaxFileDescriptorCount)
                           .description("The limit of open file descriptors"));
        }
    }

    private Counter.Builder delivered(String transport) {
        return factory.counterBuilder("cdc_events_delivered")
                .description("Events written to clients")
                .addTag(Tag.create("transport", transport));
    }

    /**
     * Registers the gauges that read live state; call once the hub and the listener exist. The gauges hold
     * {@code hub} and {@code listener} until another service's {@code Meters} replaces them.
     */
    public void watch(Hub hub, ListenerGauges listener) {
        this.hub = hub;
        this.listener = listener;
        for (String transport : List.of(WEBSOCKET, SSE)) {
            create(factory.gaugeBuilder("cdc_connections", hub, h -> h.connections(transport))
                           .description("Open connections")
                           .addTag(Tag.create("transport", transport)));
        }
        create(factory.gaugeBuilder("cdc_subscriptions", hub, h -> h.subscriptions().size())
                       .description("Subscriptions on this instance, attached or not"));
        create(factory.gaugeBuilder("cdc_queued_events", hub, Hub::queuedEvents)
                       .description("Events waiting in the queues of detached durable subscriptions"));
        create(factory.gaugeBuilder("cdc_buffered_bytes", hub, Hub::bufferedBytes)
                       .description("Bytes buffered for clients: connections' queues, backlog pages being written, "
                                            + "detached queues (a shared event counts once)"));
        create(factory.gaugeBuilder("cdc_buffer_budget_bytes", hub, Hub::bufferBudget)
                       .description("The instance's budget for cdc_buffered_bytes; past it the largest consumers "
                                            + "are cut as slow"));
        create(factory.gaugeBuilder("cdc_listener_connected", listener, l -> l.connected() ? 1 : 0)
                       .description("1 while the outbox listener's LISTEN connection is up, else 0"));
        create(factory.gaugeBuilder("cdc_listener_last_progress_seconds", listener, ListenerGauges::lastProgressSeconds)
                       .description("Seconds since the outbox listener last completed a read or a LISTEN wait; "
                                            + "about 1 or less while it works, growing while it is stuck or down"));
        create(factory.functionalCounterBuilder("cdc_listener_reconnects", listener, ListenerGauges::reconnects)
                       .description("Times the outbox listener reconnected after losing its connection"));
    }

    /** Relay mode's meters (present, at 0, in database mode too). */
    public void watchFanout(FanoutGauges fanout) {
        this.fanout = fanout;
        create(factory.gaugeBuilder("cdc_fanout_leader", fanout, f -> f.leader() ? 1 : 0)
                       .description("1 while this instance leads relay mode (reads the outbox and publishes), else 0"));
        create(factory.functionalCounterBuilder("cdc_fanout_published", fanout, FanoutGauges::published)
                       .description("Events this instance published to the relay stream as leader"));
        create(factory.gaugeBuilder("cdc_fanout_consumer_lag_messages", fanout, FanoutGauges::consumerLag)
                       .description("Relay stream messages not yet fed to this instance's clients"));
    }

    /**
     * The routing's first handler ({@code any}): feeds {@code cdc_http_responses_total} as responses are sent, with a
     * first step that may answer a request itself (true: answered; the response counts all the same), and marks
     * the requests that may see health details ({@link ObserveEndpoints#healthDetails()}).
     */
    public Handler httpResponses(BiPredicate<ServerRequest, ServerResponse> answeredFirst,
                                 Predicate<ServerRequest> healthDetails) {
        return new ResponseCounter(this, answeredFirst, healthDetails);
    }

    /** The registry the meters live in: what {@code /metrics} serves. */
    MeterRegistry registry() {
        return registry;
    }

    /** Creates a meter, replacing one of the same name and tags that an earlier {@code Meters} made. */
    private <B extends Meter.Builder<B, M>, M extends Meter> M create(B builder) {
        List<Tag> tags = builder.tags().entrySet().stream().map(e -> Tag.create(e.getKey(), e.getValue())).toList();
        registry.remove(builder.name(), tags);
        return registry.getOrCreate(builder);
    }

    // ---- the hub's reports: the hot path ----

    @Override
    public void received(int count) {
        received.increment(count);
    }

    @Override
    public void delivered(String transport, long lagMicros) {
        // transport names are literals, so equals returns on its identity check: no lookup, no hashing
        if (WEBSOCKET.equals(transport)) {
            deliveredWebSocketSincePublish.increment();
        } else if (SSE.equals(transport)) {
            deliveredSseSincePublish.increment();
        }
        lagRecorder.record(lagMicros);
    }

    /** Moves the deliveries recorded since the last call into their counters and the lag timer. */
    @Override
    public void publish() {
        // the lag first: a scrape that sees a delivery counted sees its lag too
        lagRecorder.publishTo(lag);
        deliveredWebSocket.increment(deliveredWebSocketSincePublish.sumThenReset());
        deliveredSse.increment(deliveredSseSincePublish.sumThenReset());
    }

    @Override
    public void dropped(DropReason reason) {
        dropped[reason.ordinal()].increment();
    }

    @Override
    public void clientError(ErrorCode code) {
        clientErrors[code.ordinal()].increment();
    }

    /** One HTTP response sent, by its status code. */
    @Override
    public void httpResponse(int status) {
        int statusClass = status / 100;
        if (statusClass >= 1 && statusClass <= httpResponses.length) {
            httpResponses[statusClass - 1].increment();
        }
    }
}
