package io.cdcnotify.subscription;

import java.security.SecureRandom;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

import io.cdcnotify.config.SubscriptionConfig;
import io.cdcnotify.hub.Backlog;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;
import io.cdcnotify.outbox.Retention;
import io.cdcnotify.supervise.Worker;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Filter;
import io.helidon.dbclient.DbClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Subscriptions by id and owner. Durable ones live in PostgreSQL (definition, last delivered cursor, which
 * instances have clients), so that any instance can attach them; this instance keeps the ones its clients
 * use in the hub, where a detached one queues its events. A stream's own (SSE {@code ?tables=}) subscription
 * lives only in the hub and ends with the stream.
 */
public final class Subscriptions {

    private static final Logger LOG = LoggerFactory.getLogger(Subscriptions.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int BACKLOG_PAGE = 500;
    private static final long UNSTORED_WARNING_INTERVAL_NANOS = java.time.Duration.ofMinutes(1).toNanos();
    /** Ids are {@code s-} and hex; this is looser, so a change of length or alphabet does not lock clients out. */
    private static final java.util.regex.Pattern WELL_FORMED_ID = java.util.regex.Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private final Hub hub;
    private final OutboxReader reader;
    private final SubscriptionStore store;
    private final Bookkeeping bookkeeping;
    private final Retention retention;
    private final SubscriptionConfig config;
    private final int maxPerKey;
    private final Clock clock;
    /** Which last cursors a sync writes: what changed, spread over a few syncs. */
    private final CursorWrites cursorWrites = new CursorWrites();
    private final AtomicLong lastUnstoredWarning = new AtomicLong(System.nanoTime() - UNSTORED_WARNING_INTERVAL_NANOS - 1);

    public Subscriptions(Hub hub, OutboxReader reader, DbClient db, Retention retention, SubscriptionConfig config,
                         int maxPerKey, Clock clock) {
        this.hub = hub;
        this.reader = reader;
        this.store = new SubscriptionStore(db, "i-" + HexFormat.of().formatHex(randomBytes()));
        this.bookkeeping = new Bookkeeping(store, this::headCursor, maxPerKey);
        this.retention = retention;
        this.config = config;
        this.maxPerKey = maxPerKey;
        this.clock = clock;
    }

    /**
     * What {@code GET /v1/subscriptions/{id}} shows.
     *
     * @param attached  a client is attached on any instance
     * @param queued    events waiting in this instance's memory
     * @param dropped   events this instance dropped from its queue
     * @param expiresAt when it expires if nobody attaches; empty while attached
     */
    public record View(String id, List<String> tables, Instant createdAt, boolean attached, int queued, long dropped,
                       Optional<Instant> expiresAt) {
    }

    /** A new subscription of a key that lives only here: a stream's own one. */
    public Subscription create(String keyId, List<String> tables) {
        return subscribe(newId(), keyId, tables, false, Optional.empty());
    }

    /**
     * A new durable subscription of a key, stored, with no client attached yet; empty when the key already holds
     * as many as it may. The count and the insert are one atomic step in the database, so parallel requests
     * cannot overshoot the cap.
     */
    public Optional<Subscription> createDurable(String keyId, List<String> tables, Optional<Filter> filter) {
        return createDurable(keyId, tables, filter, false);
    }

    /** The refusal when a key holds as many durable subscriptions as it may. */
    public String limitMessage() {
        return "at most " + maxPerKey + " durable subscriptions per key";
    }

    private Optional<Subscription> createDurable(String keyId, List<String> tables, Optional<Filter> filter,
                                                 boolean attach) {
        String id = newId();
        List<String> distinct = tables.stream().distinct().toList();
        // PostgreSQL keeps microseconds: what the API answers now is what it reads back later
        Instant now = clock.instant().truncatedTo(ChronoUnit.MICROS);
        if (!bookkeeping.create(new SubscriptionStore.New(id, keyId, distinct, now, filter.map(Filter::toJson), attach))) {
            return Optional.empty();
        }
        return Optional.of(hub.subscribe(id, keyId, distinct, true, now, filter));
    }

    private Subscription subscribe(String id, String keyId, List<String> tables, boolean durable,
                                   Optional<Filter> filter) {
        return hub.subscribe(id, keyId, tables.stream().distinct().toList(), durable,
                             clock.instant().truncatedTo(ChronoUnit.MICROS), filter);
    }

    /** The key's durable subscriptions, oldest first. */
    public List<View> list(String keyId) {
        return store.list(keyId).stream().map(this::view).toList();
    }

    /** A key's durable subscription, as the API shows it. */
    public Optional<View> view(String id, String keyId) {
        if (!wellFormedId(id)) {
            return Optional.empty();
        }
        return store.find(id).filter(s -> s.keyId().equals(keyId)).map(this::view);
    }

    /** Ends a key's subscription everywhere: other instances end theirs at their next sync. */
    public boolean delete(String id, String keyId) {
        if (!wellFormedId(id)) {
            return false;
        }
        Optional<SubscriptionStore.Stored> stored = store.find(id).filter(s -> s.keyId().equals(keyId));
        if (stored.isEmpty()) {
            return false;
        }
        store.delete(id);
        hub.subscription(id).ifPresent(hub::end);
        cursorWrites.forget(id);
        return true;
    }

    /** Ends every subscription of a key (the key was revoked). */
    public void deleteAll(String keyId) {
        store.deleteByKey(keyId);
        hub.subscriptions().stream().filter(s -> s.keyId().equals(keyId)).toList().forEach(hub::end);
    }

    /** The keys that hold something on this instance: a connection, or a subscription. */
    public Set<String> keysHeld() {
        Set<String> held = new HashSet<>();
        for (Client c : hub.clients()) {
            held.add(c.keyId());
        }
        for (Subscription s : hub.subscriptions()) {
            held.add(s.keyId());
        }
        return held;
    }

    /** These keys are gone (revoked or expired): their connections close (4403, {@code why}), their subscriptions end. */
    public void release(Set<String> keyIds, String why) {
        hub.closeKeys(keyIds, Disconnect.revoked(why));
        keyIds.forEach(this::deleteAll);
    }

    /**
     * Turns a subscribe request (its tables and cursor already checked by its parser) into a subscription to
     * attach to: checks the cursor against the retention, the table count and the key's scope, finds the key's own
     * subscription (here, or in the database) or makes one.
     *
     * @param keyId   the requesting key
     * @param mayRead whether the key may read all of a list of tables
     */
    public Opening open(String keyId, Predicate<List<String>> mayRead, int maxTables, Opening.Request request) {
        if (request.subscriptionId().isPresent() && !wellFormedId(request.subscriptionId().get())) {
            return new Opening.Refused(ErrorCode.NOT_FOUND, "no such subscription");
        }
        Optional<Cursor> cursor = request.cursor();
        if (cursor.isPresent() && !retention.resumable(cursor.get())) {
            return new Opening.Refused(ErrorCode.RESUME_UNAVAILABLE,
                                       "the cursor is older than the outbox retention; resubscribe without it");
        }
        if (request.tables().isPresent() && request.tables().get().size() > maxTables) {
            return new Opening.Refused(ErrorCode.LIMIT_EXCEEDED,
                                       "a subscription may name at most " + maxTables + " tables");
        }
        if (request.subscriptionId().isPresent()) {
            return attach(keyId, mayRead, request, cursor);
        }
        if (request.tables().isEmpty()) {
            return new Opening.Refused(ErrorCode.BAD_REQUEST, "tables or subscription_id is required");
        }
        if (!mayRead.test(request.tables().get())) {
            return new Opening.Refused(ErrorCode.FORBIDDEN, "the key may not read these tables");
        }
        Subscription subscription;
        if (request.durable()) {
            // stored and attached here in one step: the client's subscribed follows the commit
            Optional<Subscription> made;
            try {
                made = createDurable(keyId, request.tables().get(), request.filter(), true);
            } catch (RuntimeException e) {
                return unstored(e);
            }
            if (made.isEmpty()) {
                return new Opening.Refused(ErrorCode.LIMIT_EXCEEDED, limitMessage());
            }
            subscription = made.get();
        } else {
            subscription = subscribe(newId(), keyId, request.tables().get(), false, request.filter());
        }
        return new Opening.Ready(subscription, cursor.map(c -> backlog(ReadPosition.after(c), subscription)), true);
    }

    private Opening attach(String keyId, Predicate<List<String>> mayRead, Opening.Request request, Optional<Cursor> cursor) {
        String id = request.subscriptionId().get();
        Optional<Subscription> local = hub.subscription(id).filter(s -> s.durable() && s.keyId().equals(keyId));
        Optional<SubscriptionStore.Stored> stored = store.find(id).filter(s -> s.keyId().equals(keyId));
        if (stored.isEmpty()) {
            local.ifPresent(hub::end); // deleted or expired elsewhere, not yet synced here
            return new Opening.Refused(ErrorCode.NOT_FOUND, "no such subscription");
        }
        SubscriptionStore.Stored s = stored.get();
        if (request.tables().isPresent() && !Set.copyOf(request.tables().get()).equals(Set.copyOf(s.tables()))) {
            return new Opening.Refused(ErrorCode.BAD_REQUEST, "tables differ from the subscription's own");
        }
        if (request.filter().isPresent()) {
            return new Opening.Refused(ErrorCode.BAD_REQUEST,
                                       "operations and filter belong to the subscription: omit them when attaching");
        }
        if (!mayRead.test(s.tables())) {
            return new Opening.Refused(ErrorCode.FORBIDDEN, "the key may not read these tables");
        }
        boolean exists;
        try {
            exists = bookkeeping.attach(id);
        } catch (RuntimeException e) {
            return unstored(e);
        }
        if (!exists) {
            local.ifPresent(hub::end); // deleted or expired elsewhere meanwhile
            return new Opening.Refused(ErrorCode.NOT_FOUND, "no such subscription");
        }
        Subscription subscription = local.orElseGet(() -> hub.subscribe(id, keyId, s.tables(), true, s.createdAt(),
                                                                         s.filter().flatMap(Filter::fromJson)));
        Optional<ReadPosition> from = cursor.map(ReadPosition::after);
        if (from.isEmpty() && local.isEmpty() && !s.attachedElsewhere()) {
            // nothing of it in memory here, and nobody holds it: resume where its last client stopped
            from = storedPosition(s);
        }
        return new Opening.Ready(subscription, from.map(p -> backlog(p, subscription)), false);
    }

    /**
     * The database did not take a subscribe's write in time (overloaded, or down): the client gets {@code internal}
     * and may try again, on an open connection. A write that commits later leaves an attachment nobody uses,
     * which the sync removes, and the subscription expires like any detached one.
     */
    private Opening unstored(RuntimeException e) {
        long now = System.nanoTime();
        long last = lastUnstoredWarning.get();
        if (now - last > UNSTORED_WARNING_INTERVAL_NANOS && lastUnstoredWarning.compareAndSet(last, now)) {
            LOG.warn("a subscribe could not be stored (further ones for a minute are not logged): {}", e.toString());
        }
        return new Opening.Refused(ErrorCode.INTERNAL, "the subscription could not be stored; try again");
    }

    private Optional<ReadPosition> storedPosition(SubscriptionStore.Stored s) {
        if (s.lastCursor().isEmpty()) {
            return Optional.of(ReadPosition.start());
        }
        return Cursor.decode(s.lastCursor().get()).filter(retention::resumable).map(ReadPosition::after);
    }

    /** The periodic {@link #sync} ({@code subscription-sync}), every second; the watchdog supervises it. */
    public Worker syncJob() {
        return Worker.every("subscription-sync", Duration.ofSeconds(1), this::sync);
    }

    /**
     * The periodic exchange with the database: this instance's attachments and last cursors go in; deletions,
     * expiries and attachments on other instances come back.
     */
    public void sync() {
        long snapshot = System.nanoTime();
        Set<String> attached = new HashSet<>();
        List<CursorWrites.Candidate> current = new ArrayList<>();
        Set<String> known = new HashSet<>();
        for (Subscription s : hub.subscriptions()) {
            if (!s.durable()) {
                continue;
            }
            known.add(s.id());
            if (s.attachedHere() > 0) {
                attached.add(s.id());
            }
            s.lastCursor().ifPresent(c -> current.add(new CursorWrites.Candidate(s.id(), c)));
        }
        Map<String, String> cursors = cursorWrites.select(current, known.size());
        SubscriptionStore.SyncResult result = bookkeeping.sync(attached, snapshot, cursors, known, config.detachedTtl());
        cursorWrites.done(cursors);
        for (Subscription s : List.copyOf(hub.subscriptions())) {
            if (!s.durable()) {
                continue;
            }
            if (known.contains(s.id()) && result.gone().contains(s.id())) {
                LOG.info("subscription {} was deleted or expired", s.id());
                hub.end(s);
                cursorWrites.forget(s.id());
            } else if (known.contains(s.id())) {
                // attached elsewhere: what this instance queued since its own last client left went to those
                // clients, and is dropped (the queue fills only while no client is attached anywhere)
                s.attachedElsewhere(result.attachedElsewhere().contains(s.id()));
            }
        }
    }

    /** The backlog that resumes a subscription from a position. */
    private Backlog backlog(ReadPosition from, Subscription subscription) {
        List<String> tables = subscription.tables();
        Set<String> only = tables.contains(Subscription.EVERY_TABLE) ? Set.of() : Set.copyOf(tables);
        return new OutboxBacklog(reader, from, only, subscription.filter(), BACKLOG_PAGE);
    }

    private View view(SubscriptionStore.Stored s) {
        Optional<Subscription> local = hub.subscription(s.id());
        Subscription.Status status = local.map(Subscription::status).orElse(null);
        boolean attached = s.detachedAt().isEmpty() || s.attachedElsewhere() || (status != null && status.attached());
        return new View(s.id(), s.tables(), s.createdAt(), attached,
                        status == null ? 0 : status.queued(),
                        status == null ? 0 : status.dropped(),
                        attached ? Optional.empty() : s.detachedAt().map(t -> t.plus(config.detachedTtl())));
    }

    /** The reader's head as a cursor: where a new durable subscription starts. Empty when the outbox is empty. */
    private Optional<String> headCursor() {
        try {
            return reader.head().asCursor().map(Cursor::encode);
        } catch (SQLException e) {
            throw new IllegalStateException("could not read the outbox head", e);
        }
    }

    private static String newId() {
        return "s-" + HexFormat.of().formatHex(randomBytes());
    }

    /**
     * Whether an id could name a subscription at all. Anything else names none (the contract's {@code not_found},
     * whatever its form) and never reaches the database, which refuses some strings outright (a NUL byte).
     */
    public static boolean wellFormedId(String id) {
        return id != null && WELL_FORMED_ID.matcher(id).matches();
    }

    private static byte[] randomBytes() {
        byte[] bytes = new byte[8];
        RANDOM.nextBytes(bytes);
        return bytes;
    }
}
