package io.cdcnotify.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import io.cdcnotify.config.AuthConfig;
import io.cdcnotify.db.Rows;
import io.helidon.dbclient.DbClient;
import io.helidon.dbclient.DbRow;

/**
 * API keys: made here, stored only as SHA-256 hashes, checked against the hash (and {@code CDC_ADMIN_KEY} in
 * constant time), cached briefly so that a burst of connections costs one query.
 *
 * <p>A key is {@code cdc_} and 43 base64url characters: 256 random bits. Keys are high-entropy, so an unsalted
 * SHA-256 is the right hash: nothing to brute-force, and a lookup by hash needs no scan.
 */
public final class ApiKeys {

    public static final String PREFIX = "cdc_";
    private static final int CACHE_LIMIT = 10_000;
    private static final long LOAD_WAIT_SECONDS = 10;
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final java.util.regex.Pattern WELL_FORMED_ID = java.util.regex.Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private final DbClient db;
    private final Optional<byte[]> adminKeyHash;
    private final long cacheTtlNanos;
    private final Clock clock;
    private final Map<String, Cached> cache = new ConcurrentHashMap<>();
    /** Lookups under way, by key hash: a miss waits for the one running instead of querying again. */
    private final Map<String, CompletableFuture<Cached>> loading = new ConcurrentHashMap<>();

    public ApiKeys(DbClient db, AuthConfig config, Clock clock) {
        this.db = db;
        this.adminKeyHash = config.adminKey().map(ApiKeys::hash);
        this.cacheTtlNanos = config.cacheTtl().toNanos();
        this.clock = clock;
    }

    /**
     * A new key, stored as its hash.
     *
     * @return the key's record and its plaintext, which is never seen again
     */
    public Created create(String name, List<String> tables, boolean admin, Optional<Instant> expiresAt) {
        String plaintext = newSecret();
        String id = "key_" + HexFormat.of().formatHex(randomBytes(8));
        OffsetDateTime expires = expiresAt.map(Rows::timestamp).orElse(null);
        DbRow row = db.execute()
                .createQuery("INSERT INTO cdc.api_keys (id, name, key_hash, tables, admin, expires_at) "
                                     + "VALUES (?, ?, ?, ?, ?, ?) RETURNING id, name, tables, admin, expires_at, created_at")
                .params(id, name, hash(plaintext), tables.toArray(String[]::new), admin, expires)
                .execute()
                .findFirst()
                .orElseThrow();
        return new Created(toKey(row), plaintext);
    }

    /** All stored keys, oldest first. */
    public List<ApiKey> list() {
        try (Stream<DbRow> rows = db.execute().query(
                "SELECT id, name, tables, admin, expires_at, created_at FROM cdc.api_keys ORDER BY created_at, id")) {
            return rows.map(ApiKeys::toKey).toList();
        }
    }

    /**
     * Whether an id could name a key at all ({@code key_} and hex, or {@code admin}; looser, so a change of form
     * does not lock anyone out). Anything else names no key and is not worth a query, some strings (a NUL byte)
     * the database would refuse outright.
     */
    public static boolean wellFormedId(String id) {
        return id != null && WELL_FORMED_ID.matcher(id).matches();
    }

    /** Deletes a key; its cached validations go with it. */
    public boolean delete(String id) {
        if (!wellFormedId(id)) {
            return false;
        }
        long deleted = db.execute().delete("DELETE FROM cdc.api_keys WHERE id = ?", id);
        cache.values().removeIf(c -> c.key.isPresent() && c.key.get().id().equals(id));
        return deleted > 0;
    }

    /** The key a secret names, if it exists and has not expired. */
    public Optional<ApiKey> authenticate(String secret) {
        if (secret == null || secret.isEmpty() || secret.length() > 256) {
            return Optional.empty();
        }
        byte[] hash = hash(secret);
        if (adminKeyHash.isPresent() && MessageDigest.isEqual(hash, adminKeyHash.get())) {
            return Optional.of(new ApiKey(ApiKey.BOOTSTRAP_ADMIN_ID, "CDC_ADMIN_KEY", List.of("*"), true,
                                          Optional.empty(), Instant.EPOCH));
        }
        if (!secret.startsWith(PREFIX)) {
            return Optional.empty();
        }
        String cacheKey = HexFormat.of().formatHex(hash);
        long now = System.nanoTime();
        Cached cached = cache.get(cacheKey);
        if (cached == null || now - cached.at > cacheTtlNanos) {
            cached = load(cacheKey, hash, now);
        }
        Instant instant = clock.instant();
        return cached.key.filter(k -> !k.expiredAt(instant));
    }

    /**
     * Of these key ids, those that no longer work: deleted, or expired by the database's clock. One query,
     * for the revocation sweep.
     */
    public Set<String> gone(Set<String> ids) {
        Set<String> stored = ids.stream().filter(id -> !ApiKey.BOOTSTRAP_ADMIN_ID.equals(id)).collect(Collectors.toSet());
        if (stored.isEmpty()) {
            return Set.of();
        }
        Set<String> alive;
        try (Stream<DbRow> rows = db.execute().query(
                "SELECT id FROM cdc.api_keys WHERE id = ANY(?) AND (expires_at IS NULL OR expires_at > now())",
                (Object) stored.toArray(String[]::new))) {
            alive = rows.map(r -> r.column("id").get(String.class)).collect(Collectors.toSet());
        }
        return stored.stream().filter(id -> !alive.contains(id)).collect(Collectors.toSet());
    }

    static byte[] hash(String secret) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static String newSecret() {
        return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(randomBytes(32));
    }

    private static byte[] randomBytes(int n) {
        byte[] bytes = new byte[n];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    static ApiKey toKey(DbRow row) {
        return new ApiKey(row.column("id").get(String.class),
                          row.column("name").get(String.class),
                          Rows.textArray(row.column("tables").get()),
                          row.column("admin").get(Boolean.class),
                          row.column("expires_at").asOptional().map(Rows::instant),
                          Rows.instant(row.column("created_at").get()));
    }

    /**
     * A key just made.
     *
     * @param key    its record
     * @param secret its plaintext, shown once
     */
    public record Created(ApiKey key, String secret) {
        @Override
        public String toString() {
            return "Created[" + key + "]"; // never the secret
        }
    }

    /**
     * Looks a key up once for everyone who asks at the same time: in a connection storm, thousands of clients
     * of one key arrive while its cache entry is missing or stale, and one query must serve them all (each
     * querying on its own emptied the pool, and clients got 1011).
     */
    private Cached load(String cacheKey, byte[] hash, long now) {
        CompletableFuture<Cached> mine = new CompletableFuture<>();
        CompletableFuture<Cached> running = loading.putIfAbsent(cacheKey, mine);
        if (running != null) {
            try {
                return running.get(LOAD_WAIT_SECONDS, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
            } catch (TimeoutException e) {
                throw new IllegalStateException("the API key lookup did not finish in time");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while looking up an API key");
            }
        }
        try {
            Optional<ApiKey> key = db.execute()
                    .get("SELECT id, name, tables, admin, expires_at, created_at FROM cdc.api_keys WHERE key_hash = ?",
                         hash)
                    .map(ApiKeys::toKey);
            if (cache.size() >= CACHE_LIMIT) {
                cache.clear();
            }
            Cached cached = new Cached(key, now);
            cache.put(cacheKey, cached);
            mine.complete(cached);
            return cached;
        } catch (RuntimeException | Error e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            loading.remove(cacheKey, mine);
        }
    }

    private record Cached(Optional<ApiKey> key, long at) {
    }
}
