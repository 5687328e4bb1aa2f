package io.cdcnotify;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import javax.sql.DataSource;

import io.cdcnotify.api.CapturesService;
import io.cdcnotify.api.CorsFilter;
import io.cdcnotify.api.FanoutState;
import io.cdcnotify.api.HealthService;
import io.cdcnotify.api.KeysService;
import io.cdcnotify.api.ListenerState;
import io.cdcnotify.api.StateService;
import io.cdcnotify.api.SubscriptionsService;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.auth.KeySweep;
import io.cdcnotify.cli.Cli;
import io.cdcnotify.cli.Factory;
import io.cdcnotify.config.AuthConfig;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.config.FanoutConfig;
import io.cdcnotify.config.LimitsConfig;
import io.cdcnotify.config.ListenerConfig;
import io.cdcnotify.config.OutboxConfig;
import io.cdcnotify.config.Settings;
import io.cdcnotify.config.SubscriptionConfig;
import io.cdcnotify.db.Captures;
import io.cdcnotify.db.Database;
import io.cdcnotify.fanout.Relay;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.listen.OutboxListener;
import io.cdcnotify.observe.Meters;
import io.cdcnotify.observe.ObserveEndpoints;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.Retention;
import io.cdcnotify.sse.EventsService;
import io.cdcnotify.subscription.Subscriptions;
import io.cdcnotify.supervise.Scheduler;
import io.cdcnotify.supervise.Watchdog;
import io.cdcnotify.supervise.Worker;
import io.cdcnotify.ws.WsService;
import io.helidon.config.Config;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.staticcontent.ClasspathHandlerConfig;
import io.helidon.webserver.staticcontent.StaticContentFeature;
import io.helidon.webserver.websocket.WsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The composition root: the only place objects are built and wired. Tests call {@link #setup} so they run the
 * same wiring as {@code java -jar}.
 */
public final class Main {

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);
    /** The process's status when its server stopped accepting connections (EX_SOFTWARE). */
    static final int EXIT_SERVER_FAILED = 70;
    /** How often serve checks that its server still accepts connections ({@code socket/AcceptWatch}). */
    private static final Duration ACCEPT_CHECK = Duration.ofSeconds(5);
    /** SIGTERM: clients get their close within this, the process exits well within 30 s. */
    private static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(8);

    private Main() {
    }

    public static void main(String[] args) {
        Slf4jLogging.install();
        // The commands print their own output; serve and demo raise the level again (Parts.serve, cli.DemoCommand).
        logLevel(ch.qos.logback.classic.Level.WARN);
        int exit;
        try {
            exit = run(args, Settings.load(), System.out, System.err);
        } catch (RuntimeException e) {
            System.err.println("cdc-notify: " + e.getMessage()); // a configuration that cannot be read
            exit = 1;
        }
        flushLogs();
        System.exit(exit);
    }

    /** Runs the command {@code args} names (none: the service); the process exit code. */
    static int run(String[] args, Config config, PrintStream out, PrintStream err) {
        try (Parts parts = new Parts(config)) {
            return Cli.run(parts, args, out, err);
        }
    }

    /** Log lines are written by a background thread (logback.xml): write out what is queued before the JVM ends. */
    static void flushLogs() {
        if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext context) {
            context.stop();
        }
    }

    /** Sets the root log level; {@code null}: the configured one (CDC_LOG_LEVEL, default INFO). */
    static void logLevel(ch.qos.logback.classic.Level level) {
        ((ch.qos.logback.classic.Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME)).setLevel(
                level != null ? level : ch.qos.logback.classic.Level.toLevel(System.getenv("CDC_LOG_LEVEL"),
                                                                             ch.qos.logback.classic.Level.INFO));
    }

    /**
     * The service on parts of its own, which close after the server stops: what tests run (and what
     * {@code serve} runs, on the parts of its command).
     */
    static Lifecycle setup(WebServerConfig.Builder server, Config config) {
        Parts parts = new Parts(config);
        try {
            return setup(server, parts, parts);
        } catch (RuntimeException e) {
            parts.close();
            throw e;
        }
    }

    /**
     * The one factory: the configuration, then the database (opened on first use, so that {@code --help} and
     * {@code health} need none) with its keys and captures, each built once and shared by the command and the
     * service it may start; closed with the command.
     */
    static final class Parts implements Factory {
        private final Config config;
        private final Clock clock = Clock.systemUTC();
        private Database database;
        private ApiKeys keys;
        private Captures captures;

        Parts(Config config) {
            this.config = config;
        }

        @Override
        public Config config() {
            return config;
        }

        @Override
        public String version() {
            return Main.version();
        }

        private synchronized Database database() {
            if (database == null) {
                database = Database.open(DbConfig.from(config));
            }
            return database;
        }

        @Override
        public synchronized ApiKeys keys() {
            if (keys == null) {
                keys = new ApiKeys(database().client(), AuthConfig.from(config), clock);
            }
            return keys;
        }

        @Override
        public synchronized Captures captures() {
            if (captures == null) {
                captures = new Captures(database().client());
            }
            return captures;
        }

        @Override
        public DataSource dataSource() {
            return database().dataSource();
        }

        @Override
        public void logAtConfiguredLevel() {
            logLevel(null);
        }

        @Override
        public Service start() {
            WebServerConfig.Builder builder = WebServer.builder().shutdownHook(false);
            Lifecycle lifecycle = setup(builder, this, () -> {
            });
            WebServer server = builder.build().start();
            // Helidon logs a port it cannot bind and returns a server that is not running: say so plainly.
            if (!server.isRunning()) {
                lifecycle.afterStop(); // its beforeStart ran all the same: the listener is up
                throw new IllegalStateException("the server did not start: is port "
                                                + config.get("server.port").asInt().orElse(8080)
                                                + " in use? (SERVER_PORT chooses another)");
            }
            return new Running(server, lifecycle, consoleUrl(config, server.port()));
        }

        @Override
        public int serve() {
            logLevel(null);
            Service service;
            try {
                service = start();
            } catch (RuntimeException e) {
                LOG.error("cdc-notify could not start: {}", e.getMessage());
                return 1;
            }
            LOG.info("cdc-notify {} listening on port {}; web console {}", version(), service.port(), service.url());
            CountDownLatch stopped = new CountDownLatch(1);
            java.util.concurrent.atomic.AtomicBoolean stopping = new java.util.concurrent.atomic.AtomicBoolean();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stopping.set(true);
                service.stop(SHUTDOWN_GRACE);
                LOG.info("cdc-notify stopped");
                flushLogs();
                stopped.countDown();
            }, "cdc-shutdown"));
            // a server that stopped accepting serves nothing: the process exits (through the hook above, on a
            // thread of its own) for its supervisor to restart it
            String host = config.get("server.host").asString().orElse("0.0.0.0");
            new io.cdcnotify.socket.AcceptWatch(new java.net.InetSocketAddress(host, service.port()),
                    ACCEPT_CHECK, stopping::get,
                    () -> Thread.ofPlatform().name("cdc-exit").start(() -> System.exit(EXIT_SERVER_FAILED))).start();
            // The server's threads serve; this one waits for the shutdown hook, so that serve ends with the service.
            while (true) {
                try {
                    stopped.await();
                    return 0;
                } catch (InterruptedException e) {
                    // nothing interrupts the main thread but the JVM's end: keep waiting for the hook
                }
            }
        }

        @Override
        public synchronized void close() {
            if (database != null) {
                database.close();
                database = null;
            }
        }
    }

    /** A started service: {@link #stop} drains its clients, then stops the server and what it started. */
    private record Running(WebServer server, Lifecycle lifecycle, URI url) implements Factory.Service {
        @Override
        public int port() {
            return server.port();
        }

        @Override
        public void stop(Duration grace) {
            lifecycle.drain(grace);
            server.stop();
        }
    }

    /** Where a browser on this machine finds the console ({@code 0.0.0.0} is not an address to browse to). */
    static URI consoleUrl(Config config, int port) {
        String host = config.get("server.host").asString().orElse("0.0.0.0");
        String shown = switch (host) {
            case "0.0.0.0", "::", "[::]", "" -> "localhost";
            default -> host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
        };
        boolean tls = config.get("server.tls.private-key").exists();
        return URI.create((tls ? "https://" : "http://") + shown + ":" + port + "/");
    }

    /**
     * Builds every component from {@code parts} and their configuration, and adds the routes and the lifecycle
     * that starts and stops them with the server; {@code closedAfterStop} is closed last.
     */
    static Lifecycle setup(WebServerConfig.Builder server, Parts parts, AutoCloseable closedAfterStop) {
        Config config = parts.config();
        Clock clock = parts.clock;
        LimitsConfig limits = LimitsConfig.from(config);
        SubscriptionConfig subscriptionConfig = SubscriptionConfig.from(config);
        AuthConfig authConfig = AuthConfig.from(config);

        Database database = parts.database();
        OutboxConfig outboxConfig = OutboxConfig.from(config);
        ApiKeys keys = parts.keys();
        OutboxReader reader = new OutboxReader(database.dataSource(), outboxConfig.pageBytes());
        Meters metrics = new Meters();
        Hub hub = new Hub(new Hub.Limits(limits.clientBufferEvents(), limits.clientBufferBytes(),
                                         subscriptionConfig.queueMaxEvents(), subscriptionConfig.queueMaxBytes(),
                                         limits.totalBufferBytes(), limits.closeGrace()), metrics, clock);
        Retention retention = new Retention(database.client(), outboxConfig.retention(), outboxConfig.purgeBatch());
        Subscriptions subscriptions = new Subscriptions(hub, reader, database.client(), retention, subscriptionConfig,
                                                        limits.maxSubscriptionsPerKey(), clock);
        OutboxListener listener = new OutboxListener(database, reader, page -> hub.publish(page.events()),
                                                     ListenerConfig.from(config), clock);
        Relay relay = relay(config, database, reader, hub, clock);
        java.util.function.BooleanSupplier feeding = relay == null ? listener::connected : relay::healthy;
        KeySweep keySweep = new KeySweep(keys, authConfig.sweepInterval(), subscriptions::keysHeld,
                                         subscriptions::release);
        // each periodic job comes from its owner, on a thread of its own, so that one stuck or dead job neither
        // holds up the others nor goes unnoticed
        java.util.List<Worker> jobs = java.util.List.of(keySweep.job(), subscriptions.syncJob(),
                                                        retention.job(outboxConfig.purgeInterval()),
                                                        hub.connectionsJob());
        Scheduler authTimer = new Scheduler("cdc-timer");
        // no silent death: every thread the service depends on is watched, replaced when it dies or sticks
        Watchdog watchdog = new Watchdog(Duration.ofMillis(500));
        watchdog.supervise(listener::supervise);
        java.util.Map<String, java.util.function.BooleanSupplier> threadChecks = new java.util.LinkedHashMap<>();
        for (Worker job : jobs) {
            watchdog.supervise(job::supervise);
            threadChecks.put(job.name(), job::healthy);
        }
        threadChecks.put("timer", authTimer::healthy);
        threadChecks.put("watchdog", watchdog::alive);
        metrics.watch(hub, new Meters.ListenerGauges() {
            @Override
            public boolean connected() {
                return feeding.getAsBoolean();
            }

            @Override
            public long reconnects() {
                return relay == null ? listener.reconnects() : relay.reconnects();
            }

            @Override
            public double lastProgressSeconds() {
                return relay == null ? listener.secondsSinceProgress() : relay.secondsSinceProgress();
            }
        });
        metrics.watchFanout(relay == null ? Meters.FanoutGauges.NONE : new Meters.FanoutGauges() {
            @Override
            public boolean leader() {
                return relay.leader();
            }

            @Override
            public long published() {
                return relay.published();
            }

            @Override
            public long consumerLag() {
                return relay.consumerLag();
            }
        });

        Lifecycle lifecycle = new Lifecycle(listener, relay, jobs, authTimer, watchdog, hub, closedAfterStop);
        java.util.function.Supplier<ListenerState> listenerState = relay == null
                ? () -> new ListenerState(listener.connected(), listener.lastEventId(), listener.reconnects(),
                                          listener.lagMillis())
                : () -> new ListenerState(relay.healthy(), relay.lastEventId(), relay.reconnects(), relay.lagMillis());
        java.util.function.Supplier<FanoutState> fanoutState = relay == null ? FanoutState::database
                : () -> new FanoutState("nats", relay.leader(), relay.stream(), relay.streamLastSequence(),
                                        relay.consumedSequence());

        server.config(config.get("server"));
        if (!config.get("server.max-tcp-connections").exists()) {
            io.cdcnotify.socket.ConnectionCap.fromOpenFileLimit().ifPresent(cap -> {
                server.maxTcpConnections(cap);
                LOG.info("accepting at most {} connections at once (the open-file limit's room; "
                         + "server.max-tcp-connections sets another)", cap);
            });
        }
        ObserveEndpoints observe = ObserveEndpoints.create(config, metrics, database::reachable, feeding,
                                                           headers -> io.cdcnotify.auth.Credentials.bearer(headers)
                                                                   .flatMap(keys::authenticate)
                                                                   .map(io.cdcnotify.auth.ApiKey::admin)
                                                                   .orElse(false));
        server.directHandlers(Main::refusedBeforeRouting)
                .addFeature(observe.feature())
                .addProtocol(webSocket(limits, corsOrigins(config)))
                .routing(routing -> routing
                        .error(Throwable.class, Main::unhandled)
                        // first of all routes, and not a filter: a filter's frames stay under every handler
                        .any(metrics.httpResponses(new CorsFilter(corsOrigins(config))::answered, observe.healthDetails()))
                        .register(lifecycle)
                        .register("/health", new HealthService(database::reachable, listenerState, threadChecks))
                        .register("/v1/state", new StateService(keys, hub, listenerState, version(), fanoutState))
                        .register("/v1/keys", new KeysService(keys, limits.maxRequestBytes(), keySweep::revoked))
                        .register("/v1/subscriptions", new SubscriptionsService(keys, subscriptions,
                                                                                limits.maxRequestBytes(),
                                                                                limits.maxTablesPerSubscription()))
                        .register("/v1/events", new EventsService(keys, hub, subscriptions, limits, metrics))
                        .register("/v1/captures", new CapturesService(parts.captures(), keys, limits.maxRequestBytes()))
                        .register("/", StaticContentFeature.createService(ClasspathHandlerConfig.builder()
                                                                                  .location("web")
                                                                                  .welcome("index.html")
                                                                                  .build())))
                .addRouting(WsService.routing(keys, hub, subscriptions, limits, authTimer.executor(), metrics));
        return lifecycle;
    }

    /**
     * Relay mode's relay ({@code CDC_FANOUT=nats}), or null in database mode, also when NATS cannot be reached at
     * start and {@code cdc.fanout.fallback} is {@code database}; otherwise that start fails with a clear message.
     */
    private static Relay relay(Config config, Database database, OutboxReader reader, Hub hub, Clock clock) {
        FanoutConfig fanout = FanoutConfig.from(config);
        if (fanout.mode() == FanoutConfig.Mode.DATABASE) {
            return null;
        }
        ListenerConfig listenerConfig = ListenerConfig.from(config);
        try {
            return Relay.connect(fanout, () -> database.openDedicatedConnection(Relay.LOCK_APPLICATION_NAME), reader,
                                 sink -> new OutboxListener(database, reader, sink, listenerConfig, clock),
                                 new Relay.Hooks() {
                                     @Override
                                     public void publish(java.util.List<io.cdcnotify.outbox.OutboxEvent> events) {
                                         hub.publish(events);
                                     }

                                     @Override
                                     public void closeClients() {
                                         hub.closeAllAfterQueued(Disconnect.SHUTDOWN);
                                     }
                                 }, clock);
        } catch (IllegalStateException e) {
            if (fanout.fallback() == FanoutConfig.Fallback.DATABASE) {
                LOG.error("{}; running in database mode instead (cdc.fanout.fallback=database)", e.getMessage());
                return null;
            }
            throw e; // the parts, the database among them, close with their command
        }
    }

    /**
     * Errors no handler answered: Helidon's own (no such route, a body too large, a malformed request) become
     * the contract's error body with their status; anything else is logged once, with its stack, and answered
     * {@code internal} without it.
     */
    private static void unhandled(io.helidon.webserver.http.ServerRequest req,
                                  io.helidon.webserver.http.ServerResponse res, Throwable t) {
        if (res.isSent()) {
            return;
        }
        if (t instanceof io.helidon.http.HttpException http && http.status().code() < 500) {
            int status = http.status().code();
            io.cdcnotify.wire.HttpErrors.send(res, status, io.cdcnotify.wire.ErrorCode.forHttpStatus(status),
                    status == 404 ? "no such resource" : http.status().reasonPhrase().toLowerCase(java.util.Locale.ROOT));
            return;
        }
        LOG.error("request {} {} failed", req.prologue().method().text(), req.path().path(), t);
        io.cdcnotify.wire.HttpErrors.send(res, io.cdcnotify.wire.ErrorCode.INTERNAL, "internal error");
    }

    /**
     * Requests the server refuses before any routing (a malformed request line, header or percent-encoding):
     * Helidon's status with the contract's error body instead of an empty or plain-text one. The message is the
     * status's reason phrase, never Helidon's text, which may quote the request.
     */
    private static void refusedBeforeRouting(io.helidon.webserver.http.DirectHandlers.Builder handlers) {
        for (io.helidon.http.DirectHandler.EventType type : io.helidon.http.DirectHandler.EventType.values()) {
            handlers.addHandler(type, (req, event, status, headers, message) ->
                    io.cdcnotify.wire.HttpErrors.beforeRouting(status, headers, event.keepAlive()));
        }
    }

    /**
     * Helidon refuses WebSocket upgrades from other origins unless they are listed: the CORS origins are. ({@code *}
     * cannot be listed; then only same-origin pages and non-browser clients, which send no Origin, connect.)
     */
    private static WsConfig webSocket(LimitsConfig limits, java.util.Set<String> origins) {
        WsConfig.Builder ws = WsConfig.builder().maxFrameLength(limits.maxFrameBytes());
        if (!origins.isEmpty() && !origins.contains("*")) {
            ws.origins(origins);
        }
        return ws.build();
    }

    private static java.util.Set<String> corsOrigins(Config config) {
        return java.util.Arrays.stream(config.get("cdc.cors.allowed-origins").asString().orElse("").split(","))
                .map(String::trim)
                .filter(o -> !o.isEmpty())
                .collect(java.util.stream.Collectors.toSet());
    }

    static String version() {
        try (InputStream in = Main.class.getResourceAsStream("/cdc-notify.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "dev");
        } catch (IOException e) {
            return "dev";
        }
    }

    /** Starts the background parts with the server, drains clients on SIGTERM, and stops it all after the server. */
    static final class Lifecycle implements HttpService {
        private final OutboxListener listener;
        /** Relay mode's relay, which then feeds the hub instead of {@link #listener}; null in database mode. */
        private final Relay relay;
        private final java.util.List<Worker> jobs;
        private final Scheduler authTimer;
        private final Watchdog watchdog;
        private final Hub hub;
        private final AutoCloseable closedAfterStop;

        Lifecycle(OutboxListener listener, Relay relay, java.util.List<Worker> jobs, Scheduler authTimer,
                  Watchdog watchdog, Hub hub, AutoCloseable closedAfterStop) {
            this.listener = listener;
            this.relay = relay;
            this.jobs = jobs;
            this.authTimer = authTimer;
            this.watchdog = watchdog;
            this.hub = hub;
            this.closedAfterStop = closedAfterStop;
        }

        /** For tests (through {@code TestAccess}). */
        OutboxListener listener() {
            return listener;
        }

        @Override
        public void routing(io.helidon.webserver.http.HttpRules rules) {
        }

        @Override
        public void beforeStart() {
            if (relay == null) {
                listener.start();
            } else {
                relay.start();
            }
            jobs.forEach(Worker::start);
            authTimer.start();
            watchdog.start();
        }

        /**
         * Graceful shutdown: no new events are read; every connection writes what it has queued, gets its last
         * cursor in a 1001 close (SSE: the stream ends) and is gone within {@code grace}; stragglers are cut.
         */
        void drain(Duration grace) {
            LOG.info("shutting down: closing {} connections", hub.clients().size());
            hub.refuseNewClients();
            listener.stop();
            if (relay != null) {
                relay.stop();
            }
            hub.closeAllAfterQueued(Disconnect.SHUTDOWN);
            long deadline = System.nanoTime() + grace.toNanos();
            while (!hub.clients().isEmpty() && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            hub.abortStuck(Duration.ZERO);
            LOG.info("shutdown: {} connections left", hub.clients().size());
        }

        @Override
        public void afterStop() {
            watchdog.close();
            hub.closeAll(Disconnect.SHUTDOWN);
            jobs.forEach(job -> job.stop(Duration.ofSeconds(1)));
            authTimer.close();
            listener.stop();
            if (relay != null) {
                relay.stop();
            }
            try {
                closedAfterStop.close();
            } catch (Exception e) {
                LOG.warn("closing after the server stopped failed: {}", e.toString());
            }
        }
    }
}
