package io.cdcnotify.sse;

import java.util.Optional;

import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.auth.Credentials;
import io.cdcnotify.config.LimitsConfig;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.subscription.Opening;
import io.cdcnotify.subscription.Subscriptions;
import io.cdcnotify.wire.ClientRequest;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.HttpErrors;
import io.cdcnotify.wire.Message;
import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * {@code GET /v1/events}: a Server-Sent Events stream of one subscription. Everything is checked before the
 * stream opens, so errors are plain HTTP; then the stream's writer runs on demand (a thread per burst), and this
 * handler's own virtual thread reads the connection's input until it ends, which is how it learns at once
 * that the client went away. One thread per idle stream, parked in that read.
 */
public final class EventsService implements HttpService {

    private static final Logger LOG = LoggerFactory.getLogger(EventsService.class);
    private static final HeaderName LAST_EVENT_ID = HeaderNames.create("Last-Event-ID");

    private final ApiKeys keys;
    private final Hub hub;
    private final Subscriptions subscriptions;
    private final LimitsConfig limits;
    private final HubMetrics metrics;

    public EventsService(ApiKeys keys, Hub hub, Subscriptions subscriptions, LimitsConfig limits, HubMetrics metrics) {
        this.keys = keys;
        this.hub = hub;
        this.subscriptions = subscriptions;
        this.limits = limits;
        this.metrics = metrics;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::stream);
    }

    /**
     * Opens the stream, then waits here for its end. Its frame is kept in the heap for the stream's life, under
     * Helidon's and over the read's: so everything before the wait is in {@link #open}, which has returned by then.
     */
    private void stream(ServerRequest req, ServerResponse res) {
        Open open = open(req, res);
        if (open == null) {
            return;
        }
        MDC.put("connection_id", open.connectionId());
        try {
            LOG.info("sse stream opened for key {}", open.keyId());
            // no thread waits for an idle stream's writes: one starts when there is something to write, and this
            // one waits for the client to go (the end of its input), or for the writer to end the stream
            open.client().writeOnDemand(Thread.ofVirtual().name("sse-writer-" + open.connectionId()).factory());
            if (open.socket().isPresent()) {
                open.socket().get().awaitInputEnd();
                open.client().close(Disconnect.GONE); // nothing when the writer ended the stream: the first reason wins
            }
            open.transport().awaitClosed();
            if (!res.isSent()) {
                // its end did not reach the client (gone first), so Helidon never saw it sent: counted here, once
                metrics.httpResponse(res.status().code());
            }
            LOG.info("sse stream closed");
        } catch (InterruptedException e) {
            open.client().close(Disconnect.SHUTDOWN);
            Thread.currentThread().interrupt();
        } finally {
            MDC.remove("connection_id");
        }
    }

    /** An open stream: attached to its subscription, the response's headers set, nothing written yet. */
    private record Open(String connectionId, String keyId, Client client, SseTransport transport,
                        Optional<SseSocket> socket) {
    }

    /** Checks the request and attaches the stream; null when it was answered with an error instead. */
    private Open open(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = Credentials.from(req.headers(), req.query()).flatMap(keys::authenticate);
        if (key.isEmpty()) {
            HttpErrors.send(res, ErrorCode.UNAUTHORIZED, "a valid API key is required");
            return null;
        }
        Optional<String> cursor = req.headers().first(LAST_EVENT_ID)
                .or(() -> req.query().first("last_event_id").asOptional())
                .filter(c -> !c.isEmpty());
        ClientRequest request = ClientRequest.parseStream(req.query().first("tables").asOptional(),
                                                          req.query().first("subscription_id").asOptional(),
                                                          cursor,
                                                          req.query().first("operations").asOptional(),
                                                          req.query().first("filter").asOptional());
        if (!(request instanceof ClientRequest.Subscribe subscribe)) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, ((ClientRequest.Invalid) request).message());
            return null;
        }
        Opening opening = subscriptions.open(key.get().id(), key.get()::allowsAll, limits.maxTablesPerSubscription(),
                                             Opening.Request.of(subscribe, false));
        if (opening instanceof Opening.Refused refused) {
            HttpErrors.send(res, refused.code(), refused.message());
            return null;
        }
        Opening.Ready ready = (Opening.Ready) opening;
        Subscription subscription = ready.subscription();
        String connectionId = Hub.newClientId();
        Optional<SseSocket> socket = SseSocket.of(req);
        SseTransport transport = new SseTransport(res::outputStream, socket);
        Optional<Client> connected = hub.connect(connectionId, key.get().id(), transport,
                                                 limits.maxConnectionsPerKey());
        if (connected.isEmpty()) {
            if (ready.created()) {
                hub.end(subscription);
            }
            if (hub.refusing()) {
                HttpErrors.send(res, Status.SERVICE_UNAVAILABLE_503.code(), ErrorCode.INTERNAL,
                                "the server is shutting down");
                return null;
            }
            HttpErrors.send(res, ErrorCode.LIMIT_EXCEEDED, "too many connections for this key");
            return null;
        }
        Client client = connected.get();
        res.status(Status.OK_200);
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
        res.header(HeaderValues.CACHE_NO_CACHE);
        res.header(HeaderNames.create("X-Accel-Buffering"), "no");
        // the stream is the connection's last response: this handler reads its input until it closes
        res.header(HeaderValues.CONNECTION_CLOSE);
        client.attach(subscription, ready.backlog(),
                      new Message.Subscribed(Optional.empty(), subscription.id(), subscription.tables()),
                      Message.Error.of(ErrorCode.NOT_FOUND, "no such subscription"));
        return new Open(connectionId, key.get().id(), client, transport, socket);
    }
}
