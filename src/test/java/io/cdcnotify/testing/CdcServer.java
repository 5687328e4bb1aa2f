package io.cdcnotify.testing;

import java.net.URI;
import java.util.HashMap;
import java.util.Map;

import io.cdcnotify.TestAccess;
import io.cdcnotify.config.Settings;
import io.cdcnotify.listen.OutboxListener;
import io.helidon.config.Config;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;

/**
 * The real service, wired by {@code Main.setup}, on a random port against a {@link TestDatabase}.
 */
public final class CdcServer implements AutoCloseable {

    public static final String ADMIN_KEY = "test-admin-key-0123456789";

    private final WebServer server;
    private final OutboxListener listener;
    private Runnable onClose = () -> { };

    private CdcServer(WebServer server, OutboxListener listener) {
        this.server = server;
        this.listener = listener;
    }

    public static CdcServer start(TestDatabase db) {
        return start(db, Map.of());
    }

    /**
     * @param given configuration keys to set, e.g. {@code cdc.limits.client-buffer-events}
     */
    public static CdcServer start(TestDatabase db, Map<String, String> given) {
        Map<String, String> keys = RelayMode.apply(db, given); // CDC_TEST_FANOUT=nats: every server in relay mode
        Map<String, String> env = new HashMap<>();
        env.put("DB_URL", db.url());
        env.put("DB_USER", db.user());
        env.put("DB_PASSWORD", db.password());
        env.put("CDC_ADMIN_KEY", ADMIN_KEY);
        env.put("SERVER_PORT", "0");
        env.put("SERVER_HOST", "127.0.0.1");
        Config config = Settings.load(env, keys);
        WebServerConfig.Builder builder = WebServer.builder().shutdownHook(false);
        OutboxListener listener = TestAccess.setupReturningListener(builder, config);
        CdcServer started = new CdcServer(builder.build().start(), listener);
        started.onClose = () -> RelayMode.closed(db, keys);
        return started;
    }

    /** The service's outbox listener (its fault-injection seam is package-private to {@code io.cdcnotify.listen}). */
    public OutboxListener listener() {
        return listener;
    }

    public int port() {
        return server.port();
    }

    public URI http(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + port() + pathAndQuery);
    }

    public URI ws(String pathAndQuery) {
        return URI.create("ws://127.0.0.1:" + port() + pathAndQuery);
    }

    @Override
    public void close() {
        server.stop();
        onClose.run();
    }
}
