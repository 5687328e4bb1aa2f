package io.cdcnotify.api;

import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.subscription.Subscriptions;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Filter;
import io.cdcnotify.wire.HttpErrors;
import io.cdcnotify.wire.Json;
import io.cdcnotify.wire.Timestamps;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/** {@code /v1/subscriptions}: a key's durable subscriptions. */
public final class SubscriptionsService implements HttpService {

    private final Rest rest;
    private final Subscriptions subscriptions;
    private final int maxTables;

    public SubscriptionsService(ApiKeys keys, Subscriptions subscriptions, int maxBodyBytes, int maxTables) {
        this.rest = new Rest(keys, maxBodyBytes);
        this.subscriptions = subscriptions;
        this.maxTables = maxTables;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/", this::create)
                .get("/", this::list)
                .get("/{id}", this::get)
                .delete("/{id}", this::delete);
    }

    private void create(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = rest.key(req, res);
        if (key.isEmpty()) {
            return;
        }
        Optional<JsonNode> body = rest.body(req, res);
        if (body.isEmpty()) {
            return;
        }
        List<String> tables;
        try {
            tables = KeysService.tables(body.get());
        } catch (Rest.BadField e) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, e.getMessage());
            return;
        }
        if (tables.size() > maxTables) {
            HttpErrors.send(res, ErrorCode.LIMIT_EXCEEDED, "a subscription may name at most " + maxTables + " tables");
            return;
        }
        Optional<Filter> filter;
        try {
            filter = Filter.parse(body.get().get("operations"), body.get().get("filter"));
        } catch (Filter.Invalid e) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, e.getMessage());
            return;
        }
        if (!key.get().allowsAll(tables)) {
            HttpErrors.send(res, ErrorCode.FORBIDDEN, "the key may not read these tables");
            return;
        }
        Optional<Subscription> made = subscriptions.createDurable(key.get().id(), tables, filter);
        if (made.isEmpty()) {
            HttpErrors.send(res, ErrorCode.LIMIT_EXCEEDED, subscriptions.limitMessage());
            return;
        }
        Subscription s = made.get();
        ObjectNode json = Json.MAPPER.createObjectNode();
        json.put("id", s.id());
        s.tables().forEach(json.putArray("tables")::add);
        json.put("created_at", Timestamps.format(s.createdAt()));
        Rest.json(res, Status.CREATED_201, json);
    }

    private void list(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = rest.key(req, res);
        if (key.isEmpty()) {
            return;
        }
        ArrayNode all = Json.MAPPER.createArrayNode();
        subscriptions.list(key.get().id()).forEach(s -> all.add(toJson(s)));
        Rest.json(res, Status.OK_200, all);
    }

    private void get(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = rest.key(req, res);
        if (key.isEmpty()) {
            return;
        }
        Optional<Subscriptions.View> s = subscriptions.view(req.path().pathParameters().get("id"), key.get().id());
        if (s.isEmpty()) {
            HttpErrors.send(res, ErrorCode.NOT_FOUND, "no such subscription");
            return;
        }
        Rest.json(res, Status.OK_200, toJson(s.get()));
    }

    private void delete(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = rest.key(req, res);
        if (key.isEmpty()) {
            return;
        }
        if (!subscriptions.delete(req.path().pathParameters().get("id"), key.get().id())) {
            HttpErrors.send(res, ErrorCode.NOT_FOUND, "no such subscription");
            return;
        }
        Rest.noContent(res);
    }

    private static ObjectNode toJson(Subscriptions.View s) {
        ObjectNode json = Json.MAPPER.createObjectNode();
        json.put("id", s.id());
        s.tables().forEach(json.putArray("tables")::add);
        json.put("created_at", Timestamps.format(s.createdAt()));
        json.put("attached", s.attached());
        json.put("queued", s.queued());
        json.put("dropped", s.dropped());
        json.put("expires_at", s.expiresAt().map(Timestamps::format).orElse(null));
        return json;
    }
}
