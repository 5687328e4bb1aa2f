package io.cdcnotify.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import javax.sql.DataSource;

import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code demo}: the service, plus a make-believe shop that changes its orders every half second, so that the
 * console shows live events a minute after checkout. The shop is SQL ({@code demo/shop.sql}, read only here): a
 * table and a function that makes one change. The demo captures the table with {@code cdc.capture}, as a
 * newcomer would capture their own, so every change arrives as a {@code {new, old, key}} event of
 * {@code public.cdc_demo_orders}. It runs until Ctrl-C, then revokes the key it made.
 */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        description = {
                "Starts the service (as 'serve' does) together with a demo table in the configured database whose "
                + "rows change every --interval-ms, and an API key that may read it. Prints the console link "
                + "(with the key in it) and a curl command for the SSE stream, then runs until Ctrl-C, when it "
                + "revokes its key. Needs nothing but the database."})
final class DemoCommand implements Callable<Integer> {

    /** The demo's captured table: where the shop writes, and the table name its events carry. */
    static final String TABLE = "public.cdc_demo_orders";
    /** Demo keys carry this name, so that a demo that was killed leaves nothing behind after the next one. */
    static final String KEY_NAME = "cdc-notify-demo";

    private static final Logger LOG = LoggerFactory.getLogger(DemoCommand.class);
    /** The shop: its table, and {@code public.cdc_demo_orders_change()}, which makes one change. */
    private static final String SHOP = "/demo/shop.sql";
    private static final Duration SUMMARY_EVERY = Duration.ofSeconds(30);
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(3);

    private final Factory factory;
    @Spec
    private CommandSpec spec;
    @Option(names = "--interval-ms", paramLabel = "MS", defaultValue = "500",
            description = "time between two changes, at least 10 (default: ${DEFAULT-VALUE})")
    private long intervalMs;

    DemoCommand(Factory factory) {
        this.factory = factory;
    }

    @Override
    public Integer call() {
        if (intervalMs < 10) {
            throw new ParameterException(spec.commandLine(),
                                         "--interval-ms must be a whole number of milliseconds, at least 10");
        }
        Duration interval = Duration.ofMillis(intervalMs);
        PrintWriter out = spec.commandLine().getOut();
        Running demo;
        try {
            demo = start(factory, interval);
        } catch (RuntimeException e) {
            spec.commandLine().getErr().println("demo: could not start: " + e.getMessage());
            return 1;
        }
        out.printf("""

                cdc-notify demo: captured %s; writing a change to it every %d ms.
                  console   %s
                  API key   %s  (tables: %s; revoked when the demo stops)
                  SSE       curl -N '%s'
                Press Ctrl-C to stop.

                """, TABLE, interval.toMillis(), demo.consoleUrl(), demo.key(), TABLE,
                   demo.url() + "v1/events?tables=" + TABLE + "&api_key=" + demo.key());
        out.flush();
        // The start-up lines stayed quiet, so that the banner is not buried under them; from now on the
        // connections' lines are worth seeing.
        factory.logAtConfiguredLevel();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            demo.close();
            stopped.countDown();
        }, "cdc-demo-shutdown"));
        try {
            while (!stopped.await(SUMMARY_EVERY.toMillis(), TimeUnit.MILLISECONDS)) {
                out.printf("demo: %d changes written; console %s%n", demo.changes(), demo.consoleUrl());
                out.flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    /**
     * Starts the service on {@code factory}'s parts, then the shop and its capture, a key for {@link #TABLE},
     * and a writer that makes one change every {@code interval}.
     */
    static Running start(Factory factory, Duration interval) {
        Factory.Service service = factory.start();
        try {
            createShop(factory.dataSource());
            // What a newcomer would do with their own table: no outbox writes in the shop, only a capture.
            factory.captures().add(TABLE, List.of());
            ApiKeys keys = factory.keys();
            for (ApiKey stale : keys.list()) {
                if (KEY_NAME.equals(stale.name())) {
                    keys.delete(stale.id());
                }
            }
            Running demo = new Running(service, keys, keys.create(KEY_NAME, List.of(TABLE), false, Optional.empty()),
                                       factory.dataSource(), interval);
            LOG.info("demo writing a change to {} every {} ms", TABLE, interval.toMillis());
            return demo;
        } catch (RuntimeException e) {
            service.stop(Duration.ZERO);
            throw e;
        }
    }

    private static void createShop(DataSource dataSource) {
        String script;
        try (InputStream in = DemoCommand.class.getResourceAsStream(SHOP)) {
            if (in == null) {
                throw new IllegalStateException(SHOP + " is missing from the jar");
            }
            script = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + SHOP + ": " + e.getMessage(), e);
        }
        try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
            st.execute(script);
        } catch (SQLException e) {
            throw new IllegalStateException("cannot create the demo shop " + TABLE + ": " + e.getMessage(), e);
        }
    }

    /** A running demo: the service, its demo key, and the writer. {@link #close} stops all three. */
    static final class Running implements AutoCloseable {
        private final Factory.Service service;
        private final ApiKeys keys;
        private final ApiKeys.Created key;
        private final DataSource dataSource;
        private final Duration interval;
        private final AtomicLong changes = new AtomicLong();
        private final Thread writer;
        private volatile boolean running = true;

        private Running(Factory.Service service, ApiKeys keys, ApiKeys.Created key, DataSource dataSource,
                        Duration interval) {
            this.service = service;
            this.keys = keys;
            this.key = key;
            this.dataSource = dataSource;
            this.interval = interval;
            this.writer = Thread.ofPlatform().name("cdc-demo-writer").daemon().start(this::write);
        }

        int port() {
            return service.port();
        }

        /** The demo key's plaintext. */
        String key() {
            return key.secret();
        }

        /** Where the service answers, ending in {@code /}. */
        URI url() {
            return service.url();
        }

        /**
         * The console, told by its URL which key and tables to connect with; after {@code #}, which browsers
         * never send, so the key stays out of any access log or proxy on the way.
         */
        URI consoleUrl() {
            return URI.create(service.url() + "#key=" + URLEncoder.encode(key.secret(), StandardCharsets.UTF_8)
                              + "&tables=" + TABLE);
        }

        /** Changes committed so far. */
        long changes() {
            return changes.get();
        }

        private void write() {
            long failures = 0;
            while (running) {
                try (Connection c = dataSource.getConnection(); Statement st = c.createStatement();
                     ResultSet changed = st.executeQuery("SELECT public.cdc_demo_orders_change()")) {
                    if (changed.next() && changed.getBoolean(1)) {
                        changes.incrementAndGet();
                    }
                    failures = 0;
                } catch (SQLException | RuntimeException e) {
                    // The database may come back (a restart, a failover): keep trying, and say so once a while.
                    if (failures++ % 20 == 0) {
                        LOG.warn("demo could not write a change: {}", e.getMessage());
                    }
                }
                try {
                    Thread.sleep(interval);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        /** Stops the writer, drains and stops the service, and revokes the demo key. Safe to call twice. */
        @Override
        public synchronized void close() {
            if (!running) {
                return;
            }
            running = false;
            writer.interrupt();
            try {
                writer.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            service.stop(SHUTDOWN_GRACE);
            try {
                keys.delete(key.key().id());
            } catch (RuntimeException e) {
                LOG.warn("demo key {} could not be revoked: {}", key.key().id(), e.getMessage());
            }
        }
    }
}
