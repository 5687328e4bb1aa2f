package io.cdcnotify;

import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.time.Duration;
import java.util.Properties;

import io.cdcnotify.api.HealthService;
import io.cdcnotify.api.KeysService;
import io.cdcnotify.api.ListenerState;
import io.cdcnotify.api.StateService;
import io.cdcnotify.api.SubscriptionsService;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.config.AuthConfig;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.config.LimitsConfig;
import io.cdcnotify.config.ListenerConfig;
import io.cdcnotify.config.Settings;
import io.cdcnotify.config.SubscriptionConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.listen.OutboxListener;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.sse.EventsService;
import io.cdcnotify.subscription.Subscriptions;
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
import org.slf4j.bridge.SLF4JBridgeHandler;

/**
 * The composition root: the only place objects are built and wired. Tests call {@link #setup} so they run the
 * same wiring as {@code java -jar}.
 */
public final class Main {

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    private Main() {
    }

    public static void main(String[] args) {
        SLF4JBridgeHandler.removeHandlersForRootLogger();
        SLF4JBridgeHandler.install();
        Config config = Settings.load();
        WebServer server;
        try {
            WebServerConfig.Builder builder = WebServer.builder().shutdownHook(false);
            setup(builder, config);
            server = builder.build().start();
        } catch (RuntimeException e) {
            LOG.error("cdc-notify could not start: {}", e.getMessage());
            System.exit(1);
            return;
        }
        LOG.info("cdc-notify {} listening on port {}", version(), server.port());
    }

    /**
     * Builds every component from {@code config}, and adds the routes and the lifecycle that starts and stops
     * them with the server.
     */
    static void setup(WebServerConfig.Builder server, Config config) {
        Clock clock = Clock.systemUTC();
        LimitsConfig limits = LimitsConfig.from(config);
        SubscriptionConfig subscriptionConfig = SubscriptionConfig.from(config);
        AuthConfig authConfig = AuthConfig.from(config);

        Database database = Database.open(DbConfig.from(config));
        OutboxReader reader = new OutboxReader(database.dataSource());
        HubMetrics metrics = HubMetrics.NONE;
        Hub hub = new Hub(new Hub.Limits(limits.clientBufferEvents(), subscriptionConfig.queueMaxEvents(),
                                         subscriptionConfig.queueMaxBytes()), metrics, clock);
        ApiKeys keys = new ApiKeys(database.client(), authConfig, clock);
        Subscriptions subscriptions = new Subscriptions(hub, reader, subscriptionConfig, clock);
        OutboxListener listener = new OutboxListener(database, reader, hub, ListenerConfig.from(config),
                                                     payload -> { }, clock);
        Housekeeping housekeeping = new Housekeeping(keys, hub, subscriptions, authConfig.sweepInterval());

        java.util.function.Supplier<ListenerState> listenerState = () -> new ListenerState(
                listener.connected(), listener.lastEventId(), listener.reconnects(), listener.lagMillis());

        server.config(config.get("server"))
                .addProtocol(WsConfig.builder().maxFrameLength(limits.maxFrameBytes()).build())
                .routing(routing -> routing
                        .error(Throwable.class, Main::internalError)
                        .register(new Lifecycle(database, listener, housekeeping, hub))
                        .register("/health", new HealthService(database::reachable, listenerState))
                        .register("/v1/state", new StateService(keys, hub, listenerState, version()))
                        .register("/v1/keys", new KeysService(keys, limits.maxRequestBytes(), housekeeping::revoked))
                        .register("/v1/subscriptions", new SubscriptionsService(keys, subscriptions,
                                                                                limits.maxRequestBytes(),
                                                                                limits.maxTablesPerSubscription()))
                        .register("/v1/events", new EventsService(keys, hub, subscriptions, limits))
                        .register("/", StaticContentFeature.createService(ClasspathHandlerConfig.builder()
                                                                                  .location("web")
                                                                                  .welcome("index.html")
                                                                                  .build())))
                .addRouting(WsService.routing(keys, hub, subscriptions, limits, housekeeping.timer(), metrics));
    }

    /** Anything a handler did not expect: logged once, with its stack, and answered without it. */
    private static void internalError(io.helidon.webserver.http.ServerRequest req,
                                      io.helidon.webserver.http.ServerResponse res, Throwable t) {
        LOG.error("request {} {} failed", req.prologue().method().text(), req.path().path(), t);
        if (!res.isSent()) {
            res.status(io.helidon.http.Status.INTERNAL_SERVER_ERROR_500);
            res.header(io.helidon.http.HeaderValues.CONTENT_TYPE_JSON);
            res.send(io.cdcnotify.hub.ErrorCode.INTERNAL.body("internal error"));
        }
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

    /** Starts the background parts with the server, and stops them after it. */
    private record Lifecycle(Database database, OutboxListener listener, Housekeeping housekeeping, Hub hub)
            implements HttpService {

        @Override
        public void routing(io.helidon.webserver.http.HttpRules rules) {
        }

        @Override
        public void beforeStart() {
            listener.start();
            housekeeping.start();
        }

        @Override
        public void afterStop() {
            hub.closeAll(Disconnect.SHUTDOWN);
            housekeeping.close();
            listener.stop();
            database.close();
        }
    }
}
