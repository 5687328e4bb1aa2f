package io.cdcnotify;

import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import javax.sql.DataSource;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.config.AuthConfig;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Captures;
import io.cdcnotify.db.Database;
import io.cdcnotify.wire.Json;
import io.helidon.config.Config;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code java -jar cdc-notify.jar demo}: the service, plus a make-believe shop that changes its orders every
 * half second, so that the console shows live events a minute after checkout. The demo captures its table with
 * {@code cdc.capture} and the shop writes plain SQL to it, as an application that knows nothing of cdc-notify
 * does: every change arrives as a {@code {new, old, key}} event of {@code public.cdc_demo_orders}. It runs until
 * Ctrl-C, then revokes the key it made.
 */
final class DemoCommand {

    /** The demo's captured table: where the shop writes, and the table name its events carry. */
    static final String TABLE = "public.cdc_demo_orders";
    /** Demo keys carry this name, so that a demo that was killed leaves nothing behind after the next one. */
    static final String KEY_NAME = "cdc-notify-demo";

    private static final Logger LOG = LoggerFactory.getLogger(DemoCommand.class);
    private static final Duration SUMMARY_EVERY = Duration.ofSeconds(30);
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(3);

    private DemoCommand() {
    }

    /**
     * Runs the demo, a change every {@code interval}, until the JVM is asked to stop; returns the process exit
     * code. (Its options are parsed by the {@code demo} command in {@code cli}.)
     */
    static int run(Duration interval, Config config, PrintStream out, PrintStream err) {
        Demo demo;
        try {
            demo = Demo.start(config, interval);
        } catch (RuntimeException e) {
            err.println("demo: could not start: " + e.getMessage());
            return 1;
        }
        out.printf("""

                cdc-notify demo: captured %s; writing a change to it every %d ms.
                  console   %s
                  API key   %s  (tables: %s; revoked when the demo stops)
                  SSE       curl -N '%s'
                Press Ctrl-C to stop.

                """, TABLE, interval.toMillis(), demo.consoleUrl(), demo.key(), TABLE,
                   demo.baseUrl() + "v1/events?tables=" + TABLE + "&api_key=" + demo.key());
        // The start-up lines stayed quiet (Main logs only warnings until here), so the banner is not buried under
        // them; from now on the connections' lines are worth seeing.
        Main.logLevel(null);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            demo.close();
            stopped.countDown();
        }, "cdc-demo-shutdown"));
        try {
            while (!stopped.await(SUMMARY_EVERY.toMillis(), TimeUnit.MILLISECONDS)) {
                out.printf("demo: %d changes written; console %s%n", demo.changes(), demo.consoleUrl());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    /** A running demo: the service, its demo key, and the writer. {@link #close} stops all three. */
    static final class Demo implements AutoCloseable {
        private final WebServer server;
        private final Main.Lifecycle lifecycle;
        private final Database database;
        private final ApiKeys keys;
        private final ApiKeys.Created key;
        private final String host;
        private final Shop shop;
        private final Thread writer;
        private final Duration interval;
        private volatile boolean running = true;

        private Demo(WebServer server, Main.Lifecycle lifecycle, Database database, ApiKeys keys, ApiKeys.Created key,
                     String host, Duration interval) {
            this.server = server;
            this.lifecycle = lifecycle;
            this.database = database;
            this.keys = keys;
            this.key = key;
            this.host = host;
            this.interval = interval;
            this.shop = new Shop(database.dataSource());
            this.writer = Thread.ofPlatform().name("cdc-demo-writer").daemon().unstarted(this::write);
        }

        /**
         * Starts the service as {@code Main.main} does, against the configured database, then the demo table and
         * its capture, a key for {@link #TABLE}, and a writer that makes one change every {@code interval}.
         */
        static Demo start(Config config, Duration interval) {
            WebServerConfig.Builder builder = WebServer.builder().shutdownHook(false);
            Main.Lifecycle lifecycle = Main.setup(builder, config);
            WebServer server = builder.build().start();
            Database database = null;
            try {
                // Helidon logs a port it cannot bind and returns a server that is not running: say so plainly.
                if (!server.isRunning()) {
                    throw new IllegalStateException("the server did not start (is port "
                                                    + config.get("server.port").asInt().orElse(8080)
                                                    + " in use? SERVER_PORT chooses another)");
                }
                DbConfig db = DbConfig.from(config);
                // The writer needs one connection, and the keys one more now and then.
                database = Database.open(new DbConfig(db.url(), db.user(), db.password(), 2));
                Shop.createTable(database.dataSource());
                // What a newcomer would do with their own table: no outbox writes in the shop, only a capture.
                new Captures(database.client()).add(TABLE, List.of());
                ApiKeys keys = new ApiKeys(database.client(), AuthConfig.from(config), Clock.systemUTC());
                for (ApiKey stale : keys.list()) {
                    if (KEY_NAME.equals(stale.name())) {
                        keys.delete(stale.id());
                    }
                }
                ApiKeys.Created key = keys.create(KEY_NAME, List.of(TABLE), false, Optional.empty());
                String host = config.get("server.host").asString().orElse("0.0.0.0");
                Demo demo = new Demo(server, lifecycle, database, keys, key, host, interval);
                demo.writer.start();
                LOG.info("demo writing a change to {} every {} ms", TABLE, interval.toMillis());
                return demo;
            } catch (RuntimeException e) {
                if (database != null) {
                    database.close();
                }
                if (server.isRunning()) {
                    server.stop();
                } else {
                    lifecycle.afterStop(); // the listener started even though the server did not
                }
                throw e;
            }
        }

        int port() {
            return server.port();
        }

        /** The demo key's plaintext. */
        String key() {
            return key.secret();
        }

        /** Where the service answers, ending in {@code /}. */
        String baseUrl() {
            String shown = switch (host) {
                case "0.0.0.0", "::", "[::]", "" -> "localhost";
                default -> host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
            };
            return "http://" + shown + ":" + port() + "/";
        }

        /**
         * The console, told by its URL which key and tables to connect with; after {@code #}, which browsers
         * never send, so the key stays out of any access log or proxy on the way.
         */
        URI consoleUrl() {
            return URI.create(baseUrl() + "#key=" + URLEncoder.encode(key.secret(), StandardCharsets.UTF_8)
                                      + "&tables=" + TABLE);
        }

        /** Changes committed so far. */
        long changes() {
            return shop.changes.get();
        }

        private void write() {
            long failures = 0;
            while (running) {
                try {
                    shop.change();
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
            lifecycle.drain(SHUTDOWN_GRACE);
            server.stop();
            try {
                keys.delete(key.key().id());
            } catch (RuntimeException e) {
                LOG.warn("demo key {} could not be revoked: {}", key.key().id(), e.getMessage());
            }
            database.close();
        }
    }

    /**
     * A make-believe shop whose orders go {@code pending → paid → packed → shipped → delivered}, are sometimes
     * cancelled, and are archived (deleted) once delivered. It writes plain SQL and nothing else: the capture
     * trigger turns each change into its event, in the same transaction.
     */
    static final class Shop {
        private static final ObjectMapper JSON = Json.MAPPER;
        private static final List<String> CUSTOMERS = List.of(
                "Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov", "Donald Knuth",
                "Margaret Hamilton", "Ken Thompson", "Frances Allen", "John McCarthy", "Radia Perlman",
                "Tim Berners-Lee");
        private static final List<Product> PRODUCTS = List.of(
                new Product("MUG-01", "Stoneware mug", 1290), new Product("TEE-M-BLK", "T-shirt, black, M", 2400),
                new Product("BOOK-PG", "The PostgreSQL book", 4590), new Product("STK-10", "Sticker pack", 499),
                new Product("HOOD-L-GRY", "Hoodie, grey, L", 5900), new Product("CAP-01", "Cap", 1800),
                new Product("BTL-75", "Water bottle 0.75 l", 2150));

        private final DataSource dataSource;
        final AtomicLong changes = new AtomicLong();

        Shop(DataSource dataSource) {
            this.dataSource = dataSource;
        }

        static void createTable(DataSource dataSource) {
            try (Connection c = dataSource.getConnection(); Statement st = c.createStatement()) {
                st.execute("""
                        CREATE TABLE IF NOT EXISTS %s (
                            id          bigint        GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                            customer    text          NOT NULL,
                            email       text          NOT NULL,
                            status      text          NOT NULL,
                            items       jsonb         NOT NULL,
                            total       numeric(10,2) NOT NULL,
                            currency    text          NOT NULL,
                            created_at  timestamptz   NOT NULL DEFAULT now(),
                            updated_at  timestamptz   NOT NULL DEFAULT now()
                        )""".formatted(TABLE));
            } catch (SQLException e) {
                throw new IllegalStateException("cannot create " + TABLE + ": " + e.getMessage(), e);
            }
        }

        /** One change, chosen so that the shop keeps a dozen or so orders moving along. */
        void change() throws SQLException {
            ThreadLocalRandom random = ThreadLocalRandom.current();
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(false);
                try {
                    long orders = count(c);
                    int dice = random.nextInt(100);
                    boolean done = orders < 4 || (orders < 25 && dice < 30) ? insert(c, random)
                            : dice < 88 || orders < 8 ? update(c, random) || insert(c, random)
                            : delete(c) || update(c, random);
                    if (done) {
                        c.commit();
                        changes.incrementAndGet();
                    } else {
                        c.rollback();
                    }
                } catch (SQLException | RuntimeException e) {
                    c.rollback();
                    throw e;
                }
            }
        }

        private static long count(Connection c) throws SQLException {
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM " + TABLE)) {
                rs.next();
                return rs.getLong(1);
            }
        }

        private static boolean insert(Connection c, ThreadLocalRandom random) throws SQLException {
            String customer = CUSTOMERS.get(random.nextInt(CUSTOMERS.size()));
            ArrayNode items = JSON.createArrayNode();
            long totalCents = 0;
            int lines = 1 + random.nextInt(3);
            for (Product p : random.ints(0, PRODUCTS.size()).distinct().limit(lines)
                    .mapToObj(PRODUCTS::get).toList()) {
                int qty = 1 + random.nextInt(3);
                ObjectNode item = items.addObject();
                item.put("sku", p.sku());
                item.put("name", p.name());
                item.put("qty", qty);
                item.put("unit_price", p.cents() / 100.0);
                totalCents += (long) qty * p.cents();
            }
            String email = customer.toLowerCase(java.util.Locale.ROOT).replaceAll("[^a-z]+", ".") + "@example.com";
            String sql = "INSERT INTO " + TABLE + " (customer, email, status, items, total, currency) "
                         + "VALUES (?, ?, 'pending', ?::jsonb, ?, 'EUR')";
            try (PreparedStatement st = c.prepareStatement(sql)) {
                st.setString(1, customer);
                st.setString(2, email);
                st.setString(3, items.toString());
                st.setBigDecimal(4, java.math.BigDecimal.valueOf(totalCents, 2));
                return st.executeUpdate() > 0;
            }
        }

        /** Moves an order one step along; now and then a pending one is cancelled instead. */
        private static boolean update(Connection c, ThreadLocalRandom random) throws SQLException {
            boolean cancel = random.nextInt(10) == 0;
            String sql = "UPDATE " + TABLE + " SET status = CASE status "
                         + (cancel ? "WHEN 'pending' THEN 'cancelled' " : "")
                         + "WHEN 'pending' THEN 'paid' WHEN 'paid' THEN 'packed' WHEN 'packed' THEN 'shipped' "
                         + "WHEN 'shipped' THEN 'delivered' END, updated_at = now() "
                         + "WHERE id = (SELECT id FROM " + TABLE + " WHERE status IN ('pending', 'paid', 'packed', "
                         + "'shipped') ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED)";
            try (PreparedStatement st = c.prepareStatement(sql)) {
                return st.executeUpdate() > 0;
            }
        }

        /** Archives the oldest order that is delivered or cancelled. */
        private static boolean delete(Connection c) throws SQLException {
            String sql = "DELETE FROM " + TABLE + " WHERE id = (SELECT id FROM " + TABLE
                         + " WHERE status IN ('delivered', 'cancelled') ORDER BY updated_at LIMIT 1 "
                         + "FOR UPDATE SKIP LOCKED)";
            try (PreparedStatement st = c.prepareStatement(sql)) {
                return st.executeUpdate() > 0;
            }
        }

        private record Product(String sku, String name, int cents) {
        }
    }
}
