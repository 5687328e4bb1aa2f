package io.cdcnotify.hub;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.Filter;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Filtered fan-out on the listener thread: {@code Hub.publish} of realistic ~300-byte order events to 1,000
 * subscriptions on <em>one</em> table, each a client of its own whose writer is not running (so a delivery only
 * enqueues, as in {@link HubPublishBenchmark}). The score is per <em>event</em>.
 *
 * <ul>
 *   <li>{@code none}: the 1,000 subscriptions have no filter: 1,000 deliveries per event (one encoding, 1,000
 *       enqueues).</li>
 *   <li>{@code customer}: subscription {@code i} has {@code {"customer": {"in": [i, i+500 mod 1000]}}}, and an
 *       event's customer is uniform in 0–999: 1,000 filter checks, one payload parse, one path lookup and 2
 *       deliveries per event.</li>
 *   <li>{@code mixed}: the same, and by {@code i mod 4}: nothing more; {@code "operations": ["INSERT",
 *       "UPDATE"]}; also {@code "status": {"in": ["paid", "shipped"]}}; also {@code "shipping.country": "DE"}
 *       (three paths per event, each looked up once; ~1.3 deliveries per event).</li>
 * </ul>
 *
 * The deliveries per event of each case are printed at setup (the filters evaluated by {@link Filter#matches}).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
public class HubFilterBenchmark {

    static final int SUBSCRIBERS = 1_000;
    static final int EVENTS = 200;
    static final String[] STATUSES = {"pending", "paid", "shipped", "delivered", "cancelled"};
    static final String[] COUNTRIES = {"DE", "FR", "NL", "US", "GB", "PL"};
    static final String[] OPERATIONS = {"INSERT", "UPDATE", "UPDATE", "UPDATE", "DELETE"};

    @Param({"none", "customer", "mixed"})
    public String filters;

    private List<OutboxEvent> page;
    private List<Optional<Filter>> perSubscription;
    private Hub hub;

    /** A ~300-byte order, as PostgreSQL's jsonb prints it. */
    static String order(int id, int customer, String status, String country, SplittableRandom r) {
        return String.format(java.util.Locale.ROOT,
                "{\"id\": %d, \"items\": [{\"qty\": %d, \"sku\": \"SKU-%05d\", \"price\": %d.%02d}, "
                + "{\"qty\": %d, \"sku\": \"SKU-%05d\", \"price\": %d.%02d}], \"total\": %d.%02d, \"status\": \"%s\", "
                + "\"currency\": \"EUR\", \"customer\": %d, \"shipping\": {\"zip\": \"%05d\", \"city\": \"Berlin\", "
                + "\"country\": \"%s\"}, \"updated_at\": \"2026-11-26T06:30:00.%06dZ\"}",
                id, 1 + r.nextInt(3), r.nextInt(100_000), r.nextInt(200), r.nextInt(100), 1 + r.nextInt(3),
                r.nextInt(100_000), r.nextInt(200), r.nextInt(100), r.nextInt(600), r.nextInt(100), status,
                customer, r.nextInt(100_000), country, r.nextInt(1_000_000));
    }

    public static List<OutboxEvent> events(int n) {
        SplittableRandom r = new SplittableRandom(42);
        List<OutboxEvent> page = new ArrayList<>(n);
        long xid = 5_000_000L;
        for (int i = 0; i < n; i++) {
            long id = 1_000_000L + i;
            String json = order(700_000 + i, r.nextInt(SUBSCRIBERS), STATUSES[r.nextInt(STATUSES.length)],
                                COUNTRIES[r.nextInt(COUNTRIES.length)], r);
            page.add(new OutboxEvent(id, xid + i, "orders", OPERATIONS[r.nextInt(OPERATIONS.length)], json,
                                     1_764_000_000_000_000L + i, new Cursor(xid + i, id, new long[0])));
        }
        return page;
    }

    public static Optional<Filter> filter(String kind, int i) {
        if (kind.equals("none")) {
            return Optional.empty();
        }
        String customer = "\"customer\": {\"in\": [" + i + ", " + (i + SUBSCRIBERS / 2) % SUBSCRIBERS + "]}";
        String json = switch (kind.equals("mixed") ? i % 4 : 0) {
            case 1 -> "{\"operations\": [\"INSERT\", \"UPDATE\"], \"filter\": {" + customer + "}}";
            case 2 -> "{\"filter\": {" + customer + ", \"status\": {\"in\": [\"paid\", \"shipped\"]}}}";
            case 3 -> "{\"filter\": {" + customer + ", \"shipping.country\": \"DE\"}}";
            default -> "{\"filter\": {" + customer + "}}";
        };
        return Filter.fromJson(json);
    }

    @Setup(Level.Trial)
    public void setup() {
        page = events(EVENTS);
        perSubscription = new ArrayList<>(SUBSCRIBERS);
        for (int i = 0; i < SUBSCRIBERS; i++) {
            perSubscription.add(filter(filters, i));
        }
        long deliveries = 0;
        for (OutboxEvent e : page) {
            Filter.Payload payload = new Filter.Payload(e.payload());
            for (Optional<Filter> f : perSubscription) {
                deliveries += f.map(x -> x.matches(e, payload)).orElse(true) ? 1 : 0;
            }
        }
        int bytes = page.stream().mapToInt(e -> e.payload().length()).sum() / page.size();
        System.out.printf("%n[HubFilterBenchmark] filters=%s: %.2f deliveries per event, payload %d bytes on average%n",
                          filters, deliveries / (double) page.size(), bytes);
    }

    @Setup(Level.Invocation)
    public void freshHub() {
        hub = new Hub(new Hub.Limits(Integer.MAX_VALUE, 10_000, 1L << 30), HubMetrics.NONE, Clock.systemUTC());
        Instant now = Instant.now();
        for (int i = 0; i < SUBSCRIBERS; i++) {
            Subscription s = hub.subscribe("s-" + i, "k", List.of("orders"), false, now, perSubscription.get(i));
            Client c = hub.connect("c-" + i, "k", NoopTransport.INSTANCE, Integer.MAX_VALUE).orElseThrow();
            hub.attach(new Attachment(c, s)).orElseThrow();
        }
    }

    /** One page of 200 events to the 1,000 subscriptions; score per event. */
    @Benchmark
    @OperationsPerInvocation(EVENTS)
    public Hub publish() {
        hub.publish(page);
        return hub;
    }
}
