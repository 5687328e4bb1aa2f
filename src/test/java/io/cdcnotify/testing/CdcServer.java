package io.cdcnotify.testing;

import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import io.cdcnotify.TestAccess;
import io.cdcnotify.config.Settings;
import io.cdcnotify.listen.OutboxListener;
import io.helidon.common.testing.virtualthreads.PinningAssertionError;
import io.helidon.common.testing.virtualthreads.PinningRecorder;
import io.helidon.config.Config;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;

/**
 * The real service, wired by {@code Main.setup}, on a random port against a {@link TestDatabase}.
 *
 * <p>A server started here records virtual-thread pinning while it runs, with Helidon's {@link PinningRecorder}
 * (JFR's {@code jdk.VirtualThreadPinned} over {@link PinningRecorder#DEFAULT_THRESHOLD} ms, the check that
 * {@code @ServerTest(pinningDetection = true)} makes): {@link #close()} fails with the pinned stack when a thread
 * was pinned. Tests on {@code @ServerTest} set the server up with {@link #setUp} and wrap the injected server
 * with {@link #of}; Helidon's extension then checks pinning and stops the server.
 */
public final class CdcServer implements AutoCloseable {

    public static final String ADMIN_KEY = "test-admin-key-0123456789";

    static {
        // The JDK starts its socket poller when the first virtual thread parks in socket I/O; a second one that
        // gets there meanwhile waits for that class initialisation pinned ("Waited for initialization of
        // sun.nio.ch.Poller by another thread", 32 ms once in CI): a one-time event of the JVM that the pinning
        // check would blame on whichever test's server came first. Started here, before any server.
        try {
            Class.forName("sun.nio.ch.Poller", true, null);
        } catch (ClassNotFoundException e) {
            // a JDK without it: nothing to start early
        }
    }

    private final WebServer server;
    private final OutboxListener listener;
    private final PinningRecorder pinning;
    private Runnable onClose = () -> { };
    private final AtomicBoolean closed = new AtomicBoolean();

    private CdcServer(WebServer server, OutboxListener listener, PinningRecorder pinning) {
        this.server = server;
        this.listener = listener;
        this.pinning = pinning;
    }

    public static CdcServer start(TestDatabase db) {
        return start(db, Map.of());
    }

    /**
     * @param given configuration keys to set, e.g. {@code cdc.limits.client-buffer-events}
     */
    public static CdcServer start(TestDatabase db, Map<String, String> given) {
        PinningRecorder pinning = PinningRecorder.create();
        pinning.record(Duration.ofMillis(PinningRecorder.DEFAULT_THRESHOLD));
        Map<String, String> keys = RelayMode.apply(db, given); // CDC_TEST_FANOUT=nats: every server in relay mode
        WebServerConfig.Builder builder = WebServer.builder().shutdownHook(false);
        OutboxListener listener = TestAccess.setupReturningListener(builder, config(db, keys));
        CdcServer started = new CdcServer(builder.build().start(), listener, pinning);
        started.onClose = () -> RelayMode.closed(db, keys);
        return started;
    }

    /**
     * For {@code @SetUpServer}: wires the service into Helidon's server builder, as {@link #start} does, for a
     * test on {@code @ServerTest}.
     */
    public static void setUp(WebServerConfig.Builder builder, TestDatabase db, Map<String, String> given) {
        TestAccess.setup(builder, config(db, given));
    }

    /** A server that Helidon's {@code @ServerTest} started (and will stop), for this class's helpers. */
    public static CdcServer of(WebServer server) {
        CdcServer wrapped = new CdcServer(server, null, null);
        wrapped.closed.set(true); // not ours to stop
        return wrapped;
    }

    private static Config config(TestDatabase db, Map<String, String> keys) {
        Map<String, String> env = new HashMap<>();
        env.put("DB_URL", db.url());
        env.put("DB_USER", db.user());
        env.put("DB_PASSWORD", db.password());
        env.put("CDC_ADMIN_KEY", ADMIN_KEY);
        env.put("SERVER_PORT", "0");
        env.put("SERVER_HOST", "127.0.0.1");
        return Settings.load(env, keys);
    }

    /** The service's outbox listener (its fault-injection seam is package-private to {@code io.cdcnotify.listen}). */
    public OutboxListener listener() {
        if (listener == null) {
            throw new IllegalStateException("a server set up by @ServerTest: its listener is not at hand");
        }
        return listener;
    }

    public int port() {
        return server.port();
    }

    /** The socket options the server applies to each connection it accepts. */
    public io.helidon.common.socket.SocketOptions connectionOptions() {
        return server.prototype().connectionOptions();
    }

    public URI http(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + port() + pathAndQuery);
    }

    public URI ws(String pathAndQuery) {
        return URI.create("ws://127.0.0.1:" + port() + pathAndQuery);
    }

    /**
     * Stops the server, once (a {@link CdcFixture} may close what a test closed already); then fails if a virtual
     * thread was pinned while it ran.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            server.stop();
            onClose.run();
        } finally {
            try {
                pinning.close(); // throws PinningAssertionError with the pinned stack
            } catch (PinningAssertionError e) {
                if (!whileLoadingAClass(e)) {
                    throw e;
                }
                System.err.println("[CdcServer] not counted: a virtual thread pinned while the JDK loaded a class (" + e
                        .getStackTrace()[0] + ")");
            }
        }
    }

    /**
     * One pin, inside the JDK's class loading (a class loaded for the first time, from a jar whose lock another
     * thread held): the JDK pins there whatever the code above it does, so it says nothing about ours. Seen once,
     * on a busy machine, under a log call that loaded a class of the JSON log encoder.
     */
    private static boolean whileLoadingAClass(PinningAssertionError e) {
        boolean oneEvent = e.getMessage().split("jdk.VirtualThreadPinned", -1).length == 2;
        return oneEvent && java.util.Arrays.stream(e.getStackTrace())
                .anyMatch(f -> f.getClassName().equals("java.lang.ClassLoader") && f.getMethodName().equals("loadClass"));
    }
}
