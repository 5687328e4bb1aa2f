package io.cdcnotify.ws;

import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.auth.Credentials;
import io.cdcnotify.config.LimitsConfig;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.subscription.Subscriptions;
import io.cdcnotify.wire.ClientRequest;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;
import io.cdcnotify.wire.WsMessages;
import io.helidon.common.buffers.BufferData;
import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.http.Status;
import io.helidon.websocket.WsListener;
import io.helidon.websocket.WsSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * One WebSocket connection's listener: its state (waiting for a key, open, closed), authentication, and the
 * hand-over of each whole message to its {@link WsRequests} once authenticated. The connection's {@link Client}
 * does all the writing from then on; before that, the only writes are this thread's (or the auth timer's)
 * refusal. Frames and the size of a whole message are the connection's to check ({@link StrictWsConnection}).
 */
final class WsEndpoint implements WsListener {

    private static final Logger LOG = LoggerFactory.getLogger(WsEndpoint.class);

    private enum State { PENDING, OPEN, CLOSED }

    private final WsDependencies deps;
    private final AtomicReference<State> state = new AtomicReference<>(State.PENDING);
    private final StringBuilder fragments = new StringBuilder();
    private final String connectionId = Hub.newClientId();
    private Optional<String> upgradeKey = Optional.empty();
    private WsSession session;
    private Client client;
    private WsRequests requests;

    WsEndpoint(WsDependencies deps) {
        this.deps = deps;
    }

    @Override
    public Optional<Headers> onHttpUpgrade(HttpPrologue prologue, Headers headers) {
        upgradeKey = Credentials.from(headers, prologue.query());
        deps.metrics().httpResponse(Status.SWITCHING_PROTOCOLS_101.code()); // accepted: the 101 follows at once
        return Optional.empty();
    }

    @Override
    public void onOpen(WsSession session) {
        this.session = session;
        withContext(() -> {
            LOG.info("websocket connection opened from {}", session.socketContext().remotePeer().host());
            if (upgradeKey.isPresent()) {
                String secret = upgradeKey.get();
                upgradeKey = Optional.empty();
                authenticate(secret, Optional.empty());
            } else {
                deps.timer().schedule(() -> Thread.ofVirtual().start(this::authTimedOut),
                                      deps.limits().authTimeout().toMillis(), TimeUnit.MILLISECONDS);
            }
        });
    }

    @Override
    public void onMessage(WsSession session, String text, boolean last) {
        withContext(() -> {
            if (state.get() == State.CLOSED) {
                return;
            }
            if (!last) {
                fragments.append(text);
                return;
            }
            String frame = text;
            if (!fragments.isEmpty()) {
                frame = fragments.append(text).toString();
                fragments.setLength(0);
            }
            ClientRequest request = ClientRequest.parse(frame);
            if (state.get() == State.PENDING) {
                if (request instanceof ClientRequest.Auth auth) {
                    authenticate(auth.apiKey(), auth.requestId());
                } else if (state.compareAndSet(State.PENDING, State.CLOSED)) {
                    refuseDirectly(unauthorized(request.requestId(),
                                                "authenticate first: send {\"type\":\"auth\",\"api_key\":…}"));
                }
                return;
            }
            if (!requests.handle(request)) {
                state.set(State.CLOSED);
            }
        });
    }

    /**
     * Answers a ping frame with a pong, written by the connection's one writer once there is one. While a pong
     * waits to be written, a newer ping's replaces it: a flood of pings from a peer that does not read holds
     * one pong, not one per ping.
     */
    @Override
    public void onPing(WsSession session, BufferData data) {
        if (state.get() == State.CLOSED) {
            return; // closing: nothing more is answered, as for text messages
        }
        if (requests != null) {
            if (!requests.ping(data)) {
                state.set(State.CLOSED);
            }
        } else if (state.get() == State.PENDING) {
            session.pong(BufferData.create(data.readBytes()));
        }
    }

    @Override
    public void onClose(WsSession session, int status, String reason) {
        withContext(() -> {
            ended();
            // the connection tells of every end once (StrictWsConnection): the client's close, a protocol
            // violation it was closed for (1002, 1007, 1009), or 1006 when the socket went away without a close
            LOG.info("websocket connection closed ({}{})", status, reason.isEmpty() ? "" : " " + reason);
        });
    }

    @Override
    public void onError(WsSession session, Throwable t) {
        withContext(() -> {
            ended();
            LOG.info("websocket connection failed: {}", t.toString());
        });
    }

    private void ended() {
        state.set(State.CLOSED);
        if (client != null) {
            client.close(Disconnect.GONE);
        }
    }

    // ---- authentication ----

    /** @param requestId the {@code auth} message's, which a refusal answers */
    private void authenticate(String secret, Optional<String> requestId) {
        Optional<ApiKey> found = deps.keys().authenticate(secret);
        if (!state.compareAndSet(State.PENDING, State.OPEN)) {
            return; // timed out meanwhile
        }
        if (found.isEmpty()) {
            state.set(State.CLOSED);
            refuseDirectly(unauthorized(requestId, "unknown, revoked or expired API key"));
            return;
        }
        ApiKey key = found.get();
        WsTransport transport = new WsTransport(session);
        Optional<Client> connected = deps.hub().connect(connectionId, key.id(), transport,
                                                        deps.limits().maxConnectionsPerKey());
        if (connected.isEmpty() && deps.hub().refusing()) {
            state.set(State.CLOSED);
            closeDirectly(Disconnect.SHUTDOWN);
            return;
        }
        if (connected.isEmpty()) {
            state.set(State.CLOSED);
            sendDirectly(Message.Error.of(ErrorCode.LIMIT_EXCEEDED, "too many connections for this key"));
            closeDirectly(Disconnect.limit("too many connections for this key"));
            return;
        }
        client = connected.get();
        requests = new WsRequests(deps, key, client, transport,
                                  new RequestLimits(deps.limits().maxMessagesPerSecond(), System.nanoTime()));
        // no thread waits for an idle connection's writes: one starts when there is something to write
        client.writeOnDemand(Thread.ofVirtual().name("ws-writer-" + connectionId).factory());
        client.send(new Message.AuthOk(connectionId));
        LOG.info("websocket connection authenticated as key {}", key.id());
    }

    /** Close 4401 after an {@code unauthorized} error that answers the request, when there was one. */
    private static Disconnect unauthorized(Optional<String> requestId, String message) {
        Disconnect d = Disconnect.unauthorized(message);
        return new Disconnect(d.code(), d.reason(),
                              Optional.of(Message.Error.answering(requestId, ErrorCode.UNAUTHORIZED, message)));
    }

    private void authTimedOut() {
        if (state.compareAndSet(State.PENDING, State.CLOSED)) {
            withContext(() -> refuseDirectly(Disconnect.unauthorized("no authentication within "
                    + deps.limits().authTimeout().toSeconds() + " s")));
        }
    }

    // ---- before the writer exists, this thread writes ----

    private void refuseDirectly(Disconnect disconnect) {
        disconnect.error().ifPresent(this::sendDirectly);
        closeDirectly(disconnect);
    }

    private void sendDirectly(Message.Error error) {
        deps.metrics().clientError(error.code());
        LOG.info("error sent to the client: {} {}", error.code().wire(), error.message());
        try {
            session.send(WsMessages.encode(error), true);
        } catch (RuntimeException e) {
            LOG.debug("could not send {}: {}", error.code().wire(), e.toString());
        }
    }

    private void closeDirectly(Disconnect disconnect) {
        LOG.info("websocket connection refused: {} {}", disconnect.code(), disconnect.reason());
        try {
            session.close(disconnect.code(), disconnect.reason());
        } catch (RuntimeException e) {
            LOG.debug("could not close: {}", e.toString());
        }
    }

    private void withContext(Runnable action) {
        MDC.put("connection_id", connectionId);
        try {
            action.run();
        } finally {
            MDC.remove("connection_id");
        }
    }

    /** What every connection's endpoint shares. */
    record WsDependencies(ApiKeys keys, Hub hub, Subscriptions subscriptions, LimitsConfig limits,
                          ScheduledExecutorService timer, HubMetrics metrics) {
    }
}
