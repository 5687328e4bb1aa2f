package io.cdcnotify.testing;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import static org.awaitility.Awaitility.await;

/**
 * The set-up of a test against the running service: a fresh {@link TestDatabase}, the service on it (for the class,
 * or started by a test with its own configuration), an API key, and a writer of outbox rows. Every server it starts
 * is awaited until {@code /health} answers 200 (the database reachable, the listener connected and caught up),
 * never for a fixed time. Each server checks virtual-thread pinning while it runs (see {@link CdcServer}).
 *
 * <pre>{@code
 * @RegisterExtension
 * static final CdcFixture CDC = CdcFixture.sharedServer().withKey("orders");
 * }</pre>
 */
public final class CdcFixture implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {

    /** How long a server may take to become ready on a busy machine. */
    public static final Duration READY_WITHIN = Duration.ofSeconds(30);

    private final TestDatabase db = new TestDatabase();
    /** Configuration of the class's server; null when the tests start their own. */
    private final Map<String, String> classConfig;
    private final List<String> keyTables = new ArrayList<>();
    private final List<CdcServer> classServers = new ArrayList<>();
    private final List<CdcServer> testServers = new ArrayList<>();
    private boolean inTest;
    private CdcServer server;
    private String key;

    private CdcFixture(Map<String, String> classConfig) {
        this.classConfig = classConfig;
    }

    /** One server for the whole class, configured as in production but for the database and the admin key. */
    public static CdcFixture sharedServer() {
        return sharedServer(Map.of());
    }

    /** One server for the whole class, with these configuration keys. */
    public static CdcFixture sharedServer(Map<String, String> config) {
        return new CdcFixture(new LinkedHashMap<>(config));
    }

    /** A database only: the tests {@link #start} servers with their own configuration. */
    public static CdcFixture ownServers() {
        return new CdcFixture(null);
    }

    /** Also makes an API key for these tables (after the class's server is up): {@link #key()}. */
    public CdcFixture withKey(String... tables) {
        keyTables.addAll(List.of(tables));
        return this;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        db.beforeAll(context);
        if (classConfig != null) {
            server = start(classConfig);
            if (!keyTables.isEmpty()) {
                key = Api.createKey(server, keyTables);
            }
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        inTest = true;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        inTest = false;
        closeAll(testServers);
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        try {
            closeAll(classServers);
        } finally {
            db.afterAll(context);
        }
    }

    /** Closes every server, the last started first, each even when one before it failed (pinning, say). */
    private static void closeAll(List<CdcServer> servers) {
        if (servers.isEmpty()) {
            return;
        }
        CdcServer last = servers.removeLast();
        try {
            last.close();
        } finally {
            closeAll(servers);
        }
    }

    /**
     * Starts a server on this class's database and waits until it is ready. One started in a test stops after
     * that test; one started before the tests (in {@code @BeforeAll}), after all of them.
     */
    public CdcServer start(Map<String, String> config) {
        CdcServer started = CdcServer.start(db, config);
        (inTest ? testServers : classServers).add(started);
        awaitReady(started);
        return started;
    }

    /** Waits until {@code /health} answers 200: the database reachable and the listener connected. */
    public static void awaitReady(CdcServer server) {
        await("the service ready (/health 200)").atMost(READY_WITHIN).pollInterval(Duration.ofMillis(50))
                .until(() -> Api.get(server.http("/health"), null).status() == 200);
    }

    /** The class's server. */
    public CdcServer server() {
        if (server == null) {
            throw new IllegalStateException("no server for the class: CdcFixture.sharedServer(config)");
        }
        return server;
    }

    /** The key made for the tables of {@link #withKey}. */
    public String key() {
        if (key == null) {
            throw new IllegalStateException("no key: CdcFixture.withKey(tables)");
        }
        return key;
    }

    /** A WebSocket on the class's server, authenticated with {@link #key()}. */
    public WsTestClient ws() {
        return WsTestClient.authenticated(server(), key());
    }

    /** An SSE stream of {@code tables} (comma-separated) on the class's server with {@link #key()}, subscribed. */
    public SseTestClient sse(String tables) {
        return SseTestClient.subscribed(server(), key(), tables);
    }

    public TestDatabase db() {
        return db;
    }

    // ---- the writer

    /** Inserts one outbox row in its own transaction; returns its id. */
    public long insert(String table, String operation, String payload) throws SQLException {
        return Outbox.insert(db, table, operation, payload);
    }

    /** A connection in a transaction, for rows committed later or rolled back. */
    public Connection begin() throws SQLException {
        return Outbox.begin(db);
    }

    /** Runs SQL statements (DDL, say) on the test database. */
    public void sql(String... statements) throws SQLException {
        try (Connection c = db.connect(); Statement st = c.createStatement()) {
            for (String s : statements) {
                st.execute(s);
            }
        }
    }
}
