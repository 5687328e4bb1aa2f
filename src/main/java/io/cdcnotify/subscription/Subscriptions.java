package io.cdcnotify.subscription;

import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

import io.cdcnotify.config.SubscriptionConfig;
import io.cdcnotify.hub.Backlog;
import io.cdcnotify.hub.ErrorCode;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;

/**
 * Subscriptions by id and owner: making them, finding them for their key only, ending them, expiring the
 * detached ones, and building the backlog a resume reads.
 */
public final class Subscriptions {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int BACKLOG_PAGE = 500;

    private final Hub hub;
    private final OutboxReader reader;
    private final SubscriptionConfig config;
    private final Clock clock;
    private final int maxPerKey;

    public Subscriptions(Hub hub, OutboxReader reader, SubscriptionConfig config, int maxPerKey, Clock clock) {
        this.maxPerKey = maxPerKey;
        this.hub = hub;
        this.reader = reader;
        this.config = config;
        this.clock = clock;
    }

    /** A new subscription of a key. A durable one outlives its clients; a stream's own one ends with it. */
    public Subscription create(String keyId, List<String> tables, boolean durable) {
        String id = "s-" + HexFormat.of().formatHex(randomBytes());
        return hub.subscribe(id, keyId, tables.stream().distinct().toList(), durable);
    }

    /** The subscription with this id, if the key owns it. */
    public Optional<Subscription> find(String id, String keyId) {
        return hub.subscription(id).filter(s -> s.keyId().equals(keyId) && s.durable());
    }

    /** True when the key owns as many durable subscriptions as it may. */
    public boolean atLimit(String keyId) {
        return hub.subscriptions().stream().filter(s -> s.durable() && s.keyId().equals(keyId)).count() >= maxPerKey;
    }

    /** The key's durable subscriptions, oldest first. */
    public List<Subscription> list(String keyId) {
        return hub.subscriptions().stream()
                .filter(s -> s.keyId().equals(keyId) && s.durable())
                .sorted((a, b) -> a.createdAt().compareTo(b.createdAt()))
                .toList();
    }

    /** Ends a key's subscription everywhere on this instance. */
    public boolean delete(String id, String keyId) {
        Optional<Subscription> s = find(id, keyId);
        s.ifPresent(hub::end);
        return s.isPresent();
    }

    /** Ends every subscription of a key (the key was revoked). */
    public void deleteAll(String keyId) {
        hub.subscriptions().stream().filter(s -> s.keyId().equals(keyId)).toList().forEach(hub::end);
    }

    /** When a detached subscription will expire; empty while a client is attached. */
    public Optional<Instant> expiresAt(Subscription s) {
        return s.status().detachedSince().map(t -> t.plus(config.detachedTtl()));
    }

    /** Ends the durable subscriptions that have been detached longer than the TTL. */
    public void expire() {
        Instant now = clock.instant();
        for (Subscription s : List.copyOf(hub.subscriptions())) {
            if (s.durable() && expiresAt(s).filter(t -> !now.isBefore(t)).isPresent()) {
                hub.end(s);
            }
        }
    }

    /**
     * Turns a subscribe request into a subscription to attach to: validates tables and cursor, checks the key's
     * scope, finds the key's own subscription or makes one.
     *
     * @param keyId   the requesting key
     * @param mayRead whether the key may read all of a list of tables
     */
    public Opening open(String keyId, Predicate<List<String>> mayRead, int maxTables, Opening.Request request) {
        Optional<Cursor> cursor = Optional.empty();
        if (request.cursor().isPresent()) {
            cursor = Cursor.decode(request.cursor().get());
            if (cursor.isEmpty()) {
                return new Opening.Refused(ErrorCode.BAD_REQUEST, "the cursor is not one this service issued");
            }
        }
        if (request.tables().isPresent()) {
            Optional<String> problem = TableNames.problem(request.tables().get());
            if (problem.isPresent()) {
                return new Opening.Refused(ErrorCode.BAD_REQUEST, problem.get());
            }
            if (request.tables().get().size() > maxTables) {
                return new Opening.Refused(ErrorCode.LIMIT_EXCEEDED,
                                           "a subscription may name at most " + maxTables + " tables");
            }
        }
        Subscription subscription;
        boolean created = false;
        if (request.subscriptionId().isPresent()) {
            Optional<Subscription> found = find(request.subscriptionId().get(), keyId);
            if (found.isEmpty()) {
                return new Opening.Refused(ErrorCode.NOT_FOUND, "no such subscription");
            }
            subscription = found.get();
            if (request.tables().isPresent()
                    && !Set.copyOf(request.tables().get()).equals(Set.copyOf(subscription.tables()))) {
                return new Opening.Refused(ErrorCode.BAD_REQUEST, "tables differ from the subscription's own");
            }
            if (!mayRead.test(subscription.tables())) {
                return new Opening.Refused(ErrorCode.FORBIDDEN, "the key may not read these tables");
            }
        } else if (request.tables().isPresent()) {
            if (!mayRead.test(request.tables().get())) {
                return new Opening.Refused(ErrorCode.FORBIDDEN, "the key may not read these tables");
            }
            if (request.durable() && atLimit(keyId)) {
                return new Opening.Refused(ErrorCode.LIMIT_EXCEEDED,
                                           "at most " + maxPerKey + " durable subscriptions per key");
            }
            subscription = create(keyId, request.tables().get(), request.durable());
            created = true;
        } else {
            return new Opening.Refused(ErrorCode.BAD_REQUEST, "tables or subscription_id is required");
        }
        Optional<Backlog> backlog = cursor.map(c -> backlog(c, subscription.tables()));
        return new Opening.Ready(subscription, backlog, created);
    }

    /** The backlog that resumes a subscription after a cursor. */
    public Backlog backlog(Cursor cursor, List<String> tables) {
        Set<String> only = tables.contains(Subscription.EVERY_TABLE) ? Set.of() : Set.copyOf(tables);
        return new OutboxBacklog(reader, ReadPosition.after(cursor), only, BACKLOG_PAGE);
    }

    private static byte[] randomBytes() {
        byte[] bytes = new byte[8];
        RANDOM.nextBytes(bytes);
        return bytes;
    }
}
