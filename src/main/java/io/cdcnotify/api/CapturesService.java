package io.cdcnotify.api;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.db.Captures;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.HttpErrors;
import io.cdcnotify.wire.Json;
import io.cdcnotify.wire.Timestamps;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/** {@code /v1/captures}: admins capture tables (row triggers that write the outbox) and release them. */
public final class CapturesService implements HttpService {

    private final Captures captures;
    private final Rest rest;

    public CapturesService(Captures captures, ApiKeys keys, int maxBodyBytes) {
        this.captures = captures;
        this.rest = new Rest(keys, maxBodyBytes);
    }

    @Override
    public void routing(HttpRules rules) {
        rules.post("/", this::add)
                .get("/", this::list)
                .delete("/{table}", this::remove);
    }

    private void add(ServerRequest req, ServerResponse res) {
        if (rest.admin(req, res).isEmpty()) {
            return;
        }
        Optional<JsonNode> body = rest.body(req, res);
        if (body.isEmpty()) {
            return;
        }
        JsonNode table = body.get().get("table");
        if (table == null || !table.isTextual()) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, "table is required and must be a string such as public.orders");
            return;
        }
        List<String> exclude = new ArrayList<>();
        JsonNode ex = body.get().get("exclude_columns");
        if (ex != null && !ex.isNull()) {
            if (!ex.isArray()) {
                HttpErrors.send(res, ErrorCode.BAD_REQUEST, "exclude_columns must be an array of column names");
                return;
            }
            for (JsonNode c : ex) {
                if (!c.isTextual()) {
                    HttpErrors.send(res, ErrorCode.BAD_REQUEST, "exclude_columns must be an array of column names");
                    return;
                }
                exclude.add(c.asText());
            }
        }
        try {
            Rest.json(res, Status.CREATED_201, toJson(captures.add(table.asText(), exclude)));
        } catch (Captures.Refused e) {
            HttpErrors.send(res, e.missing() ? ErrorCode.NOT_FOUND : ErrorCode.BAD_REQUEST, e.getMessage());
        }
    }

    private void list(ServerRequest req, ServerResponse res) {
        if (rest.admin(req, res).isEmpty()) {
            return;
        }
        ArrayNode all = Json.MAPPER.createArrayNode();
        captures.list().forEach(c -> all.add(toJson(c)));
        Rest.json(res, Status.OK_200, all);
    }

    private void remove(ServerRequest req, ServerResponse res) {
        if (rest.admin(req, res).isEmpty()) {
            return;
        }
        try {
            if (!captures.remove(req.path().pathParameters().get("table"))) {
                HttpErrors.send(res, ErrorCode.NOT_FOUND, "the table is not captured");
                return;
            }
        } catch (Captures.Refused e) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, e.getMessage());
            return;
        }
        Rest.noContent(res);
    }

    /** A capture as the API and the command line show it. */
    public static ObjectNode toJson(Captures.Capture c) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("table", c.table());
        c.currentTable().ifPresentOrElse(t -> o.put("current_table", t), () -> o.putNull("current_table"));
        c.excludeColumns().forEach(o.putArray("exclude_columns")::add);
        o.put("created_at", Timestamps.format(c.createdAt()));
        return o;
    }
}
