package io.cdcnotify.sse;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.auth.Credentials;
import io.cdcnotify.config.LimitsConfig;
import io.cdcnotify.hub.Client;
import io.cdcnotify.hub.Disconnect;
import io.cdcnotify.hub.ErrorCode;
import io.cdcnotify.hub.Filter;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.Message;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.subscription.Opening;
import io.cdcnotify.subscription.Subscriptions;
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
 * stream opens, so errors are plain HTTP; then this handler's own virtual thread becomes the connection's
 * writer and stays until the stream ends.
 */
public final class EventsService implements HttpService {

    private static final Logger LOG = LoggerFactory.getLogger(EventsService.class);
    private static final HeaderName LAST_EVENT_ID = HeaderNames.create("Last-Event-ID");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ApiKeys keys;
    private final Hub hub;
    private final Subscriptions subscriptions;
    private final LimitsConfig limits;

    public EventsService(ApiKeys keys, Hub hub, Subscriptions subscriptions, LimitsConfig limits) {
        this.keys = keys;
        this.hub = hub;
        this.subscriptions = subscriptions;
        this.limits = limits;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::stream);
    }

    private void stream(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = Credentials.from(req.headers(), req.query()).flatMap(keys::authenticate);
        if (key.isEmpty()) {
            refuse(res, ErrorCode.UNAUTHORIZED, "a valid API key is required");
            return;
        }
        Optional<String> tablesParam = req.query().first("tables").asOptional();
        Optional<String> subscriptionId = req.query().first("subscription_id").asOptional();
        if (tablesParam.isPresent() == subscriptionId.isPresent()) {
            refuse(res, ErrorCode.BAD_REQUEST, "exactly one of tables and subscription_id is required");
            return;
        }
        Optional<List<String>> tables = tablesParam.map(t -> Arrays.asList(t.split(",", -1)));
        Optional<String> cursor = req.headers().first(LAST_EVENT_ID)
                .or(() -> req.query().first("last_event_id").asOptional())
                .filter(c -> !c.isEmpty());
        Optional<Filter> filter;
        try {
            filter = filter(req);
        } catch (Filter.Invalid e) {
            refuse(res, ErrorCode.BAD_REQUEST, e.getMessage());
            return;
        }
        Opening opening = subscriptions.open(key.get().id(), key.get()::allowsAll, limits.maxTablesPerSubscription(),
                                             new Opening.Request(tables, subscriptionId, cursor, false, filter));
        if (opening instanceof Opening.Refused refused) {
            refuse(res, refused.code(), refused.message());
            return;
        }
        Opening.Ready ready = (Opening.Ready) opening;
        Subscription subscription = ready.subscription();
        String connectionId = Hub.newClientId();
        Optional<SseSocket> socket = SseSocket.of(req);
        Optional<Client> connected = hub.connect(connectionId, key.get().id(),
                                                 new SseTransport(res::outputStream, socket),
                                                 limits.maxConnectionsPerKey());
        if (connected.isEmpty()) {
            if (ready.created()) {
                hub.end(subscription);
            }
            if (hub.refusing()) {
                res.status(Status.SERVICE_UNAVAILABLE_503);
                res.header(HeaderValues.CONTENT_TYPE_JSON);
                res.send(ErrorCode.INTERNAL.body("the server is shutting down"));
                return;
            }
            refuse(res, ErrorCode.LIMIT_EXCEEDED, "too many connections for this key");
            return;
        }
        Client client = connected.get();
        res.status(Status.OK_200);
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
        res.header(HeaderValues.CACHE_NO_CACHE);
        res.header(HeaderNames.create("X-Accel-Buffering"), "no");
        // the stream is the connection's last response: the watch below reads its input until it closes
        res.header(HeaderValues.CONNECTION_CLOSE);
        client.attach(subscription, ready.backlog(),
                      new Message.Subscribed(Optional.empty(), subscription.id(), subscription.tables()),
                      Message.Error.of(ErrorCode.NOT_FOUND, "no such subscription"));
        socket.ifPresent(s -> s.watch("sse-watch-" + connectionId, () -> client.close(Disconnect.GONE)));
        MDC.put("connection_id", connectionId);
        try {
            LOG.info("sse stream opened for key {}", key.get().id());
            client.run();
            LOG.info("sse stream closed");
        } finally {
            MDC.remove("connection_id");
        }
    }

    /** {@code ?operations=INSERT,UPDATE} and {@code ?filter=<JSON object>}, as in a WebSocket subscribe. */
    private static Optional<Filter> filter(ServerRequest req) {
        Optional<String> operations = req.query().first("operations").asOptional();
        Optional<String> filter = req.query().first("filter").asOptional();
        if (operations.isEmpty() && filter.isEmpty()) {
            return Optional.empty();
        }
        JsonNode ops = operations.map(o -> (JsonNode) JSON.valueToTree(Arrays.asList(o.split(",", -1)))).orElse(null);
        JsonNode f = null;
        if (filter.isPresent()) {
            try {
                f = JSON.readTree(filter.get());
            } catch (java.io.IOException e) {
                throw new Filter.Invalid("filter must be a JSON object");
            }
        }
        return Filter.parse(ops, f);
    }

    private static void refuse(ServerResponse res, ErrorCode code, String message) {
        res.status(Status.create(code.httpStatus()));
        res.header(HeaderValues.CONTENT_TYPE_JSON);
        res.send(code.body(message));
    }
}
