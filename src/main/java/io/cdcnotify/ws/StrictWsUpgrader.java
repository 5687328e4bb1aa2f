package io.cdcnotify.ws;

import java.util.Optional;

import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.http.Method;
import io.helidon.http.NotFoundException;
import io.helidon.http.RequestException;
import io.helidon.http.ServerResponseHeaders;
import io.helidon.http.Status;
import io.helidon.http.WritableHeaders;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http1.spi.Http1RoutedUpgrade;
import io.helidon.webserver.http1.spi.Http1RoutedUpgrader;
import io.helidon.webserver.http1.spi.Http1UpgradeResult;
import io.helidon.webserver.spi.ServerConnection;
import io.helidon.webserver.websocket.WsConfig;
import io.helidon.webserver.websocket.WsRoute;
import io.helidon.webserver.websocket.WsRouting;
import io.helidon.webserver.websocket.WsUpgrader;
import io.helidon.websocket.WsListener;
import io.helidon.websocket.WsUpgradeException;

/**
 * The HTTP/1.1 upgrade to WebSocket, as Helidon 4.5.0's {@link WsUpgrader} does it (same checks of method, key,
 * version and origin, reusing its origin check and accept hash; routed, as Helidon 4.5 prefers), but
 * the upgraded connection is a {@link StrictWsConnection}.
 */
final class StrictWsUpgrader extends WsUpgrader implements Http1RoutedUpgrader {

    private final int maxFrameLength;

    StrictWsUpgrader(WsConfig config) {
        super(config);
        this.maxFrameLength = config.maxFrameLength();
    }

    @Override
    public Optional<Http1RoutedUpgrade> routedUpgrade(ConnectionContext ctx, HttpPrologue prologue,
                                                      WritableHeaders<?> headers) {
        return route(ctx, prologue, headers).map(route -> (response, requestHeaders) -> {
            WsListener listener = route.listener();
            Optional<Headers> upgradeHeaders;
            try {
                upgradeHeaders = listener.onHttpUpgrade(prologue, requestHeaders);
            } catch (WsUpgradeException e) {
                response.send(Status.BAD_REQUEST_400);
                return Http1UpgradeResult.responded();
            }
            response.sendSwitchingProtocols(handshakeHeaders(ctx, headers, upgradeHeaders));
            return Http1UpgradeResult.upgraded(new StrictWsConnection(
                    ctx, prologue, listener, maxFrameLength, upgradeHeaders.flatMap(h -> h.first(PROTOCOL))));
        });
    }

    /** Only reached when the HTTP routing does not support routed upgrades: Helidon's 4.5.0 one does. */
    @Override
    public ServerConnection upgrade(ConnectionContext ctx, HttpPrologue prologue, WritableHeaders<?> headers) {
        throw new IllegalStateException("WebSocket upgrades are routed");
    }

    private Optional<WsRoute> route(ConnectionContext ctx, HttpPrologue prologue, WritableHeaders<?> headers) {
        WsRoute route;
        try {
            route = ctx.router().routing(WsRouting.class, WsRouting.empty()).findRoute(prologue);
        } catch (NotFoundException e) {
            return Optional.empty(); // not a WebSocket path: plain HTTP routing answers
        }
        if (prologue.method() != Method.GET) {
            throw badRequest("WebSocket upgrade must use GET");
        }
        if (!headers.contains(WS_KEY)) {
            throw badRequest("Missing Sec-WebSocket-Key header");
        }
        String version = headers.first(WS_VERSION).orElse(SUPPORTED_VERSION);
        if (!SUPPORTED_VERSION.equals(version)) {
            throw RequestException.builder()
                    .type(DirectHandler.EventType.BAD_REQUEST)
                    .message("Unsupported WebSocket Version")
                    .header(SUPPORTED_VERSION_HEADER)
                    .build();
        }
        if (headers.contains(HeaderNames.ORIGIN)) {
            validateOrigin(headers, headers.get(HeaderNames.ORIGIN).get());
        }
        return Optional.of(route);
    }

    private ServerResponseHeaders handshakeHeaders(ConnectionContext ctx, Headers request, Optional<Headers> extra) {
        ServerResponseHeaders response = ServerResponseHeaders.create();
        extra.ifPresent(response::from);
        response.set(HeaderValues.create(HeaderNames.CONNECTION, "Upgrade"));
        response.set(HeaderValues.create(HeaderNames.UPGRADE, "websocket"));
        response.set(HeaderValues.create(HeaderNames.create("Sec-WebSocket-Accept"), hash(ctx, request.get(WS_KEY).get())));
        return response;
    }

    private static RequestException badRequest(String message) {
        return RequestException.builder().type(DirectHandler.EventType.BAD_REQUEST).message(message).build();
    }
}
