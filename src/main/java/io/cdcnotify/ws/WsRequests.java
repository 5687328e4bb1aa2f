package io.cdcnotify.ws;

import java.util.Optional;

import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.subscription.Opening;
import io.cdcnotify.wire.ClientRequest;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
import io.helidon.common.buffers.BufferData;

/**
 * What an authenticated WebSocket client asks for: each request (and ping frame) checked against the
 * per-connection limits and turned into work for the connection's {@link Client}, whose writer thread does all
 * the writing. Called by the connection's reader thread alone.
 */
final class WsRequests {

    private final WsEndpoint.WsDependencies deps;
    private final ApiKey key;
    private final Client client;
    private final WsTransport transport;
    private final RequestLimits limits;

    WsRequests(WsEndpoint.WsDependencies deps, ApiKey key, Client client, WsTransport transport, RequestLimits limits) {
        this.deps = deps;
        this.key = key;
        this.client = client;
        this.transport = transport;
        this.limits = limits;
    }

    /** Handles one request; false when the connection now closes and reads nothing more. */
    boolean handle(ClientRequest request) {
        if (request instanceof ClientRequest.Invalid invalid) {
            return badRequest(invalid.requestId(), invalid.message());
        }
        switch (limits.message(System.nanoTime())) {
            case LIMITED -> {
                error(request.requestId(), ErrorCode.LIMIT_EXCEEDED,
                      "more than " + deps.limits().maxMessagesPerSecond() + " messages in a second");
                return true;
            }
            case CLOSE -> {
                return tooFast(request.requestId(), "message rate over the limit for 5 s");
            }
            case OK -> {
            }
        }
        return switch (request) {
            case ClientRequest.Ping p -> {
                client.send(new Message.Pong(p.requestId()));
                yield true;
            }
            case ClientRequest.Subscribe s -> subscribe(s);
            case ClientRequest.Unsubscribe u -> {
                unsubscribe(u);
                yield true;
            }
            case ClientRequest.Auth a -> badRequest(a.requestId(), "already authenticated");
            case ClientRequest.Invalid i -> badRequest(i.requestId(), i.message());
        };
    }

    /**
     * A ping frame. Ping frames are client messages too: past the rate they get no pong, and five seconds of it
     * close the connection as any other flood does (pongs coalesce in the writer, but a flood must still end).
     * False when the connection now closes.
     */
    boolean ping(BufferData data) {
        switch (limits.message(System.nanoTime())) {
            case OK -> {
                BufferData copy = BufferData.create(data.readBytes());
                client.pong(writing -> transport.pong(copy));
                return true;
            }
            case LIMITED -> {
                return true;
            }
            default -> {
                return tooFast(Optional.empty(), "ping rate over the limit for 5 s");
            }
        }
    }

    private boolean subscribe(ClientRequest.Subscribe s) {
        if (s.subscriptionId().isPresent() && client.attachedTo(s.subscriptionId().get())) {
            return badRequest(s.requestId(), "already attached to this subscription");
        }
        if (client.subscriptionCount() >= deps.limits().maxSubscriptionsPerConnection()) {
            error(s.requestId(), ErrorCode.LIMIT_EXCEEDED, "at most " + deps.limits().maxSubscriptionsPerConnection()
                    + " subscriptions per connection");
            return true;
        }
        Opening opening = deps.subscriptions().open(key.id(), key::allowsAll, deps.limits().maxTablesPerSubscription(),
                                                    Opening.Request.of(s, true));
        switch (opening) {
            case Opening.Refused r when r.code() == ErrorCode.BAD_REQUEST -> {
                return badRequest(s.requestId(), r.message());
            }
            case Opening.Refused r -> error(s.requestId(), r.code(), r.message());
            case Opening.Ready ready -> {
                String id = ready.subscription().id();
                client.attach(ready.subscription(), ready.backlog(),
                              new Message.Subscribed(s.requestId(), id, ready.subscription().tables()),
                              Message.Error.answering(s.requestId(), ErrorCode.NOT_FOUND, "no such subscription"));
            }
        }
        return true;
    }

    private void unsubscribe(ClientRequest.Unsubscribe u) {
        String id = u.subscriptionId();
        if (deps.subscriptions().view(id, key.id()).isEmpty()) {
            error(u.requestId(), ErrorCode.NOT_FOUND, "no such subscription");
            return;
        }
        client.detach(id, Optional.of(new Message.Unsubscribed(u.requestId(), id)));
        deps.subscriptions().delete(id, key.id());
    }

    /** A {@code bad_request}; false when it is the one that closes the connection (4400). */
    private boolean badRequest(Optional<String> requestId, String message) {
        error(requestId, ErrorCode.BAD_REQUEST, message);
        if (limits.badRequest(System.nanoTime())) {
            client.closeAfterQueued(Disconnect.tooManyBadRequests());
            return false;
        }
        return true;
    }

    /** Over the rate for 5 s: the error, then the close (4429). */
    private boolean tooFast(Optional<String> requestId, String message) {
        error(requestId, ErrorCode.LIMIT_EXCEEDED, message);
        client.closeAfterQueued(Disconnect.limit("message rate limit"));
        return false;
    }

    private void error(Optional<String> requestId, ErrorCode code, String message) {
        client.send(Message.Error.answering(requestId, code, message));
    }
}
