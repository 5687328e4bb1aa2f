package io.cdcnotify.wire;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import io.cdcnotify.outbox.Cursor;

/**
 * What a client asks for, parsed and checked as far as it can be without the database: a WebSocket message
 * (contract section 4), or the query of an SSE stream (section 5), which is a subscribe request in other words.
 * Tables, cursor and filter are checked here once; a {@link Subscribe} carries them ready to use.
 */
public sealed interface ClientRequest {

    Optional<String> requestId();

    record Auth(Optional<String> requestId, String apiKey) implements ClientRequest {
        @Override
        public String toString() {
            return "Auth[]"; // never the key
        }
    }

    /**
     * @param tables     valid table names (at least one), if named
     * @param resumeFrom a cursor this service issued, if given; whether it is still within the retention is the
     *                   database's to say
     */
    record Subscribe(Optional<String> requestId, Optional<List<String>> tables, Optional<Cursor> resumeFrom,
                     Optional<String> subscriptionId, Optional<Filter> filter) implements ClientRequest {
    }

    record Unsubscribe(Optional<String> requestId, String subscriptionId) implements ClientRequest {
    }

    record Ping(Optional<String> requestId) implements ClientRequest {
    }

    /** A frame that is not a valid request: what to tell the client. */
    record Invalid(Optional<String> requestId, String message) implements ClientRequest {
    }

    /** Parses one WebSocket text frame. Never throws: a bad frame becomes {@link Invalid}. */
    static ClientRequest parse(String text) {
        JsonNode root;
        try {
            root = Json.readClientInput(text);
        } catch (Json.Malformed e) {
            return new Invalid(Optional.empty(), e.getMessage());
        }
        if (root == null || !root.isObject()) {
            return new Invalid(Optional.empty(), "a message must be a JSON object");
        }
        JsonNode rid = root.get("request_id");
        if (rid != null && !rid.isNull() && !rid.isTextual()) {
            return new Invalid(Optional.empty(), "request_id must be a string");
        }
        Optional<String> requestId = rid == null || rid.isNull() ? Optional.empty() : Optional.of(rid.asText());
        if (requestId.isPresent() && requestId.get().length() > 128) {
            return new Invalid(Optional.empty(), "request_id is longer than 128 characters");
        }
        JsonNode type = root.get("type");
        if (type == null || !type.isTextual()) {
            return new Invalid(requestId, "type is required and must be a string");
        }
        try {
            return switch (type.asText()) {
                case "auth" -> new Auth(requestId, requiredString(root, "api_key"));
                case "subscribe" -> subscribe(requestId, root);
                case "unsubscribe" -> new Unsubscribe(requestId, requiredString(root, "subscription_id"));
                case "ping" -> new Ping(requestId);
                default -> new Invalid(requestId, "unknown message type");
            };
        } catch (FieldException e) {
            return new Invalid(requestId, e.getMessage());
        }
    }

    /**
     * A subscribe request, checked as far as it can be without the database: an invalid one is a
     * {@code bad_request} even past the rate limit, and counts towards the 4400 close.
     */
    private static ClientRequest subscribe(Optional<String> requestId, JsonNode root) {
        Optional<List<String>> tables = optionalStrings(root, "tables");
        Optional<String> resumeFrom = optionalString(root, "resume_from");
        Optional<String> subscriptionId = optionalString(root, "subscription_id");
        if (tables.isEmpty() && subscriptionId.isEmpty()) {
            return new Invalid(requestId, "tables or subscription_id is required");
        }
        return checked(requestId, tables, resumeFrom, "resume_from is not a cursor this service issued", subscriptionId,
                       root.get("operations"), root.get("filter"));
    }

    /**
     * Reads an SSE stream's query: exactly one of {@code tables} (comma-separated) and {@code subscription_id};
     * the cursor from {@code Last-Event-ID} or {@code last_event_id}; {@code operations} (comma-separated) and
     * {@code filter} (a JSON object) as in a WebSocket subscribe. Never throws.
     */
    static ClientRequest parseStream(Optional<String> tables, Optional<String> subscriptionId,
                                     Optional<String> lastEventId, Optional<String> operations,
                                     Optional<String> filter) {
        Optional<String> none = Optional.empty();
        if (tables.isPresent() == subscriptionId.isPresent()) {
            return new Invalid(none, "exactly one of tables and subscription_id is required");
        }
        JsonNode conditions = null;
        if (filter.isPresent()) {
            try {
                // an empty parameter is no JSON value: refused as a filter that is not an object
                conditions = Optional.ofNullable(Json.readClientInput(filter.get())).orElse(MissingNode.getInstance());
            } catch (Json.Malformed e) {
                return new Invalid(none, "filter must be a JSON object");
            }
        }
        return checked(none, tables.map(t -> List.of(t.split(",", -1))), lastEventId,
                       "the cursor is not one this service issued", subscriptionId,
                       operations.map(o -> (JsonNode) Json.MAPPER.valueToTree(o.split(",", -1))).orElse(null),
                       conditions);
    }

    /**
     * The checks every transport's subscribe request gets, in this order, once: the tables, the cursor (what
     * {@code notACursor} says if it is none), the operations and filter.
     */
    private static ClientRequest checked(Optional<String> requestId, Optional<List<String>> tables,
                                         Optional<String> cursorText, String notACursor,
                                         Optional<String> subscriptionId, JsonNode operations, JsonNode filter) {
        Optional<String> problem = tables.flatMap(TableNames::problem);
        if (problem.isPresent()) {
            return new Invalid(requestId, problem.get());
        }
        Optional<Cursor> cursor = cursorText.flatMap(Cursor::decode);
        if (cursorText.isPresent() && cursor.isEmpty()) {
            return new Invalid(requestId, notACursor);
        }
        Optional<Filter> parsed;
        try {
            parsed = Filter.parse(operations, filter);
        } catch (Filter.Invalid e) {
            return new Invalid(requestId, e.getMessage());
        }
        return new Subscribe(requestId, tables, cursor, subscriptionId, parsed);
    }

    private static String requiredString(JsonNode root, String field) {
        return optionalString(root, field).orElseThrow(() -> new FieldException(field + " is required"));
    }

    private static Optional<String> optionalString(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return Optional.empty();
        }
        if (!n.isTextual()) {
            throw new FieldException(field + " must be a string");
        }
        return Optional.of(n.asText());
    }

    private static Optional<List<String>> optionalStrings(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return Optional.empty();
        }
        if (!n.isArray()) {
            throw new FieldException(field + " must be an array of strings");
        }
        List<String> values = new ArrayList<>(n.size());
        for (Iterator<JsonNode> it = n.elements(); it.hasNext(); ) {
            JsonNode e = it.next();
            if (!e.isTextual()) {
                throw new FieldException(field + " must be an array of strings");
            }
            values.add(e.asText());
        }
        return Optional.of(values);
    }

    /** A field of the wrong shape. */
    final class FieldException extends RuntimeException {
        FieldException(String message) {
            super(message, null, false, false);
        }
    }
}
