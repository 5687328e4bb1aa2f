package io.cdcnotify.api;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.HttpErrors;
import io.cdcnotify.wire.Json;
import io.cdcnotify.wire.TableNames;
import io.cdcnotify.wire.Timestamps;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/** {@code /v1/keys}: admins make, list and revoke API keys. */
public final class KeysService implements HttpService {

    /**
     * The latest timestamp taken: years past 9999 do not fit the contract's {@code YYYY-MM-DD} form, and much later
     * ones not PostgreSQL's {@code timestamptz}.
     */
    static final Instant LATEST = Instant.parse("9999-12-31T23:59:59.999999Z");

    private final ApiKeys keys;
    private final Rest rest;
    private final Consumer<String> onRevoked;

    /**
     * @param onRevoked told the id of each revoked key, to close its connections and end its subscriptions
     */
    public KeysService(ApiKeys keys, int maxBodyBytes, Consumer<String> onRevoked) {
        this.keys = keys;
        this.rest = new Rest(keys, maxBodyBytes);
        this.onRevoked = onRevoked;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/", this::create)
                .get("/", this::list)
                .get("/self", this::self)
                .delete("/{id}", this::revoke);
    }

    private void create(ServerRequest req, ServerResponse res) {
        if (rest.admin(req, res).isEmpty()) {
            return;
        }
        Optional<JsonNode> body = rest.body(req, res);
        if (body.isEmpty()) {
            return;
        }
        JsonNode b = body.get();
        String name;
        List<String> tables;
        boolean admin;
        Optional<Instant> expiresAt;
        try {
            name = text(b, "name");
            tables = tables(b);
            admin = bool(b, "admin");
            expiresAt = timestamp(b, "expires_at");
        } catch (Rest.BadField e) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, e.getMessage());
            return;
        }
        if (expiresAt.isPresent() && !expiresAt.get().isAfter(Instant.now())) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, "expires_at must be in the future");
            return;
        }
        ApiKeys.Created created = keys.create(name, tables, admin, expiresAt);
        ObjectNode json = toJson(created.key());
        json.put("key", created.secret());
        Rest.json(res, Status.CREATED_201, json);
    }

    private void list(ServerRequest req, ServerResponse res) {
        if (rest.admin(req, res).isEmpty()) {
            return;
        }
        ArrayNode all = Json.MAPPER.createArrayNode();
        keys.list().forEach(k -> all.add(toJson(k)));
        Rest.json(res, Status.OK_200, all);
    }

    /**
     * {@code GET /v1/keys/self} (an extension): any valid key's own record, so that a client (the web console)
     * knows what it may ask for instead of finding out from a 403.
     */
    private void self(ServerRequest req, ServerResponse res) {
        rest.key(req, res).ifPresent(key -> Rest.json(res, Status.OK_200, toJson(key)));
    }

    private void revoke(ServerRequest req, ServerResponse res) {
        if (rest.admin(req, res).isEmpty()) {
            return;
        }
        String id = req.path().pathParameters().get("id");
        if (!ApiKeys.wellFormedId(id) || !keys.delete(id)) {
            HttpErrors.send(res, ErrorCode.NOT_FOUND, "no such key");
            return;
        }
        onRevoked.accept(id);
        Rest.noContent(res);
    }

    /** A key as the API and the command line show it: never its secret or hash. */
    public static ObjectNode toJson(ApiKey key) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("id", key.id());
        o.put("name", key.name());
        key.tables().forEach(o.putArray("tables")::add);
        o.put("admin", key.admin());
        o.put("expires_at", key.expiresAt().map(Timestamps::format).orElse(null));
        o.put("created_at", Timestamps.format(key.createdAt()));
        return o;
    }

    private static String text(JsonNode b, String field) {
        JsonNode n = b.get(field);
        if (n == null || !n.isTextual() || n.asText().isBlank()) {
            throw new Rest.BadField(field + " is required and must be a non-empty string");
        }
        if (n.asText().length() > 200) {
            throw new Rest.BadField(field + " is longer than 200 characters");
        }
        // PostgreSQL text cannot hold NUL, and other control characters would garble every listing and log
        if (n.asText().chars().anyMatch(Character::isISOControl)) {
            throw new Rest.BadField(field + " must not contain control characters");
        }
        return n.asText();
    }

    static List<String> tables(JsonNode b) {
        JsonNode n = b.get("tables");
        if (n == null || !n.isArray()) {
            throw new Rest.BadField("tables is required and must be an array of table names");
        }
        List<String> tables = new ArrayList<>();
        for (JsonNode t : n) {
            if (!t.isTextual()) {
                throw new Rest.BadField("tables must be an array of strings");
            }
            tables.add(t.asText());
        }
        TableNames.problem(tables).ifPresent(p -> {
            throw new Rest.BadField(p);
        });
        return tables.stream().distinct().toList();
    }

    private static boolean bool(JsonNode b, String field) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull()) {
            return false;
        }
        if (!n.isBoolean()) {
            throw new Rest.BadField(field + " must be a boolean");
        }
        return n.asBoolean();
    }

    private static Optional<Instant> timestamp(JsonNode b, String field) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull()) {
            return Optional.empty();
        }
        if (!n.isTextual()) {
            throw new Rest.BadField(field + " must be an ISO-8601 timestamp or null");
        }
        Instant at;
        try {
            at = java.time.OffsetDateTime.parse(n.asText()).toInstant();
        } catch (DateTimeParseException e) {
            throw new Rest.BadField(field + " must be an ISO-8601 timestamp with an offset, e.g. 2027-01-01T00:00:00Z");
        }
        if (at.isAfter(LATEST)) {
            throw new Rest.BadField(field + " must be before the year 10000");
        }
        return Optional.of(at);
    }
}
