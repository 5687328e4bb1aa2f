package io.cdcnotify.ws;

import java.util.concurrent.ScheduledExecutorService;

import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.config.LimitsConfig;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.subscription.Subscriptions;
import io.helidon.webserver.websocket.WsRouting;

/** {@code GET /v1/ws}: each connection gets its own {@link WsEndpoint}. */
public final class WsService {

    public static final String PATH = "/v1/ws";

    private WsService() {
    }

    public static WsRouting.Builder routing(ApiKeys keys, Hub hub, Subscriptions subscriptions, LimitsConfig limits,
                                            ScheduledExecutorService timer, HubMetrics metrics) {
        WsEndpoint.WsDependencies deps = new WsEndpoint.WsDependencies(keys, hub, subscriptions, limits, timer, metrics);
        return WsRouting.builder().endpoint(PATH, () -> new WsEndpoint(deps));
    }
}
