package io.cdcnotify.hub;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.supervise.Worker;
import io.cdcnotify.wire.Filter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Knows who is subscribed to what, and who is connected. {@link #publish} routes each event by table to its
 * subscriptions, encoding it once and only if somebody wants it; routing reads copy-on-write arrays
 * ({@link Routes}) without a lock, so the listener thread never waits for a client, and for subscribes at most
 * while one batch of them is applied.
 */
public final class Hub {

    private static final Logger LOG = LoggerFactory.getLogger(Hub.class);

    /**
     * @param clientBufferEvents live events one connection may have waiting before it is a slow consumer
     * @param clientBufferBytes  bytes one connection may hold (events, replies, held-aside events) before it is
     *                           a slow consumer
     * @param queueMaxEvents     events one detached durable subscription keeps
     * @param queueMaxBytes      bytes all detached subscriptions keep together
     * @param totalBufferBytes   bytes the whole instance buffers for clients, detached queues included; past it
     *                           the connections holding the most are cut as slow consumers
     * @param closeGrace         how long a connection that must end may keep its writer stuck in one write
     *                           before its socket is closed from outside
     */
    public record Limits(int clientBufferEvents, long clientBufferBytes, int queueMaxEvents, long queueMaxBytes,
                         long totalBufferBytes, Duration closeGrace) {

        /** Event counts only, with no byte bound (tests of other parts). */
        public Limits(int clientBufferEvents, int queueMaxEvents, long queueMaxBytes) {
            this(clientBufferEvents, Long.MAX_VALUE, queueMaxEvents, queueMaxBytes, Long.MAX_VALUE,
                 Duration.ofSeconds(2));
        }
    }

    /**
     * A slow consumer stuck in a write is cut after this many close graces from the moment it became slow (a
     * revoked or rate-limited one after one grace): what it held is freed at once anyway, and a client that reads
     * again meanwhile still gets {@code slow_consumer} with its cursor.
     */
    private static final int SLOW_GRACES = 5;
    /** A connection still closing after this is cut ({@link #abortStuck}, from {@link #connectionsJob}). */
    private static final Duration STUCK_GRACE = Duration.ofSeconds(5);

    /** How often, at most, {@link #publish} looks for the connections to cut when the total is over budget. */
    private static final long ENFORCE_EVERY_NANOS = 100_000_000L;

    private final Limits limits;
    private final HubMetrics metrics;
    private final Clock clock;
    private final DetachedQueue.Budget budget;
    private final Memory memory;
    private volatile long lastEnforced;
    private final Routes routes = new Routes();
    private final Map<String, Subscription> subscriptions = new ConcurrentHashMap<>();
    private final Map<String, Client> clients = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> clientsPerKey = new ConcurrentHashMap<>();
    private volatile boolean refusing;

    public Hub(Limits limits, HubMetrics metrics, Clock clock) {
        this.limits = limits;
        this.metrics = metrics;
        this.clock = clock;
        this.memory = new Memory(limits.totalBufferBytes());
        // detached queues may take at most half the total, so that they never crowd out the connections
        this.budget = new DetachedQueue.Budget(Math.min(limits.queueMaxBytes(), limits.totalBufferBytes() / 2), memory);
    }

    // ---- events ----

    /** Routes events, in order, to their subscriptions. Called by the listener thread alone; never blocks. */
    public void publish(List<OutboxEvent> events) {
        metrics.received(events.size());
        routes.settle();
        Subscription[] all = routes.everyTable();
        for (OutboxEvent event : events) {
            Subscription[] some = routes.of(event.table());
            if (some.length == 0 && all.length == 0) {
                continue;
            }
            Routing routing = new Routing(event);
            for (Subscription s : some) {
                routing.offer(s);
            }
            for (Subscription s : all) {
                routing.offer(s);
            }
        }
        if (memory.excess() > 0 && System.nanoTime() - lastEnforced > ENFORCE_EVERY_NANOS) {
            enforceTotal();
        }
    }

    /**
     * One event on its way: filters look at its payload (parsed at most once), and it is encoded only when a
     * first subscription wants it.
     */
    private static final class Routing {
        private final OutboxEvent event;
        private Filter.Payload payload;
        private Publication publication;

        Routing(OutboxEvent event) {
            this.event = event;
        }

        void offer(Subscription s) {
            if (s.filter().isPresent()) {
                if (payload == null) {
                    payload = new Filter.Payload(event.payload());
                }
                if (!s.filter().get().matches(event, payload)) {
                    return;
                }
            }
            if (publication == null) {
                publication = new Publication(event);
            }
            s.offer(publication);
        }
    }

    // ---- subscriptions ----

    /** Makes a subscription and routes its tables to it. A durable one queues its events while detached. */
    public Subscription subscribe(String id, String keyId, List<String> tables, boolean durable) {
        return subscribe(id, keyId, tables, durable, clock.instant(), Optional.empty());
    }

    /**
     * Makes a subscription, or returns the one with this id if it already exists here (two clients may load a
     * stored subscription at once).
     */
    public Subscription subscribe(String id, String keyId, List<String> tables, boolean durable,
                                  java.time.Instant createdAt, Optional<Filter> filter) {
        DetachedQueue queue = durable ? new DetachedQueue(limits.queueMaxEvents(), budget, metrics) : null;
        Subscription s = new Subscription(id, keyId, tables.stream().distinct().toList(), createdAt, queue, filter);
        Subscription existing = subscriptions.putIfAbsent(id, s);
        if (existing != null) {
            return existing;
        }
        routes.add(s);
        return s;
    }

    public Optional<Subscription> subscription(String id) {
        return Optional.ofNullable(subscriptions.get(id));
    }

    public Collection<Subscription> subscriptions() {
        return subscriptions.values();
    }

    /** Ends a subscription: unrouted, its queue freed, its attached clients told. */
    public void end(Subscription s) {
        if (!subscriptions.remove(s.id(), s)) {
            return;
        }
        routes.remove(s);
        for (Attachment a : s.end()) {
            a.client().ended(a);
        }
    }

    Optional<List<Publication>> attach(Attachment attachment) {
        return attachment.subscription().attach(attachment);
    }

    void detached(Attachment attachment) {
        Subscription s = attachment.subscription();
        s.detach(attachment);
        if (!s.durable() && !s.status().attached()) {
            end(s);
        }
    }

    /** Events waiting in all detached queues. */
    public long queuedEvents() {
        return budget.events();
    }

    /** Bytes waiting in all detached queues (each queue counts its events, shared or not). */
    public long queuedBytes() {
        return budget.bytes();
    }

    /**
     * Bytes this instance buffers for clients now, against {@link Limits#totalBufferBytes()}: connections'
     * queues, events held aside, backlog pages being written, detached queues; a shared event counts once.
     */
    public long bufferedBytes() {
        return memory.used();
    }

    /** The instance's total budget in bytes. */
    public long bufferBudget() {
        return memory.limit();
    }

    /**
     * Over the total budget: cuts the connections holding the most as slow consumers (each with its cursor)
     * until what they hold covers the excess, and frees their queues at once. Detached queues make room on
     * their own (they drop their oldest events).
     */
    private synchronized void enforceTotal() {
        lastEnforced = System.nanoTime();
        long excess = memory.excess();
        if (excess <= 0) {
            return;
        }
        List<Client> largest = new ArrayList<>();
        for (Client c : clients.values()) {
            if (!c.ending() && c.bufferedBytes() > 0) {
                largest.add(c);
            }
        }
        largest.sort(java.util.Comparator.comparingLong(Client::bufferedBytes).reversed());
        for (Client c : largest) {
            if (excess <= 0) {
                break;
            }
            excess -= c.bufferedBytes();
            org.slf4j.MDC.put("connection_id", c.id());
            LOG.info("the service buffers {} bytes, over its budget of {}: cutting the connection holding {} as "
                             + "a slow consumer", memory.used(), memory.limit(), c.bufferedBytes());
            org.slf4j.MDC.remove("connection_id");
            c.cutAsSlow();
        }
    }

    // ---- clients ----

    /** A new connection id: {@code c-} and 16 hex digits. */
    public static String newClientId() {
        return "c-" + java.util.HexFormat.of().toHexDigits(java.util.concurrent.ThreadLocalRandom.current().nextLong());
    }

    /**
     * Registers a new connection, unless its key already has {@code maxPerKey} on this instance. The caller
     * runs {@link Client#run()} on the connection's writer thread.
     */
    public Optional<Client> connect(String id, String keyId, Transport transport, int maxPerKey) {
        if (refusing) {
            return Optional.empty();
        }
        boolean[] admitted = new boolean[1];
        clientsPerKey.compute(keyId, (k, count) -> {
            AtomicInteger n = count == null ? new AtomicInteger() : count;
            admitted[0] = n.get() < maxPerKey;
            if (admitted[0]) {
                n.incrementAndGet();
            }
            return n.get() == 0 ? null : n;
        });
        if (!admitted[0]) {
            return Optional.empty();
        }
        Client client = new Client(id, keyId, transport, this, limits.clientBufferEvents(),
                                   limits.clientBufferBytes(), memory, metrics, clock);
        clients.put(id, client);
        return Optional.of(client);
    }

    void closed(Client client, Disconnect why) {
        if (clients.remove(client.id(), client)) {
            clientsPerKey.computeIfPresent(client.keyId(), (k, n) -> n.decrementAndGet() <= 0 ? null : n);
        }
    }

    public Collection<Client> clients() {
        return clients.values();
    }

    /** Open connections using a transport. */
    public int connections(String transport) {
        int n = 0;
        for (Client c : clients.values()) {
            if (c.transportName().equals(transport)) {
                n++;
            }
        }
        return n;
    }

    /**
     * Call about once a second: lets idle connections send their keepalives; frees what ending connections
     * hold; cuts those whose writer is stuck in a write past {@link Limits#closeGrace()} (a peer that does not
     * read, revoked or slow, would otherwise hold its connection open for as long as TCP lets it; a slow consumer
     * gets {@link #SLOW_GRACES} graces from the moment it became slow); holds the total budget; and publishes the
     * delivery metrics recorded since the last tick.
     */
    public void tick() {
        long now = System.nanoTime();
        long grace = limits.closeGrace().toNanos();
        for (Client c : clients.values()) {
            if (c.ending()) {
                if (c.stopping()) {
                    c.drain();
                }
                long slowFor = c.slowOnlyForNanos(now);
                if (c.stuckForNanos(now) >= grace && (slowFor < 0 || slowFor >= SLOW_GRACES * grace)) {
                    org.slf4j.MDC.put("connection_id", c.id());
                    LOG.info("cutting a connection that must end: its writer has been stuck in a write for {} ms",
                             c.stuckForNanos(now) / 1_000_000);
                    org.slf4j.MDC.remove("connection_id");
                    c.abort();
                }
            } else {
                c.tick(now);
            }
        }
        if (memory.excess() > 0) {
            enforceTotal();
        }
        metrics.publish();
    }

    /**
     * The connections' own timers ({@code connections}, every second): {@link #tick}, and the cutting of
     * connections whose writer is stuck while closing. The watchdog supervises it.
     */
    public Worker connectionsJob() {
        return Worker.every("connections", Duration.ofSeconds(1), () -> {
            abortStuck(STUCK_GRACE);
            tick();
        });
    }

    /** Closes every connection of these keys. */
    public void closeKeys(Collection<String> keyIds, Disconnect why) {
        for (Client c : List.copyOf(clients.values())) {
            if (keyIds.contains(c.keyId())) {
                c.close(why);
            }
        }
    }

    /** From now on {@link #connect} refuses: the server is shutting down. */
    public void refuseNewClients() {
        refusing = true;
    }

    public boolean refusing() {
        return refusing;
    }

    /** Closes every connection once it has written what it has queued. */
    public void closeAllAfterQueued(Disconnect why) {
        for (Client c : new ArrayList<>(clients.values())) {
            c.closeAfterQueued(why);
        }
    }

    /** Closes every connection: the list is copied first, and each closed outside any lock. */
    public void closeAll(Disconnect why) {
        for (Client c : new ArrayList<>(clients.values())) {
            c.close(why);
        }
    }

    /**
     * Cuts connections whose writer has not managed to close them within {@code grace}: a peer that stopped
     * reading keeps the writer stuck in a write.
     */
    public void abortStuck(Duration grace) {
        for (Client c : clients.values()) {
            if (c.closingForNanos() >= grace.toNanos()) {
                org.slf4j.MDC.put("connection_id", c.id());
                LOG.info("aborting a connection stuck while closing");
                org.slf4j.MDC.remove("connection_id");
                c.abort();
            }
        }
    }

}
