package io.cdcnotify.ws;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.cdcnotify.hub.Filter;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.subscription.TableNames;

/** A message from a WebSocket client, parsed and checked field by field (contract section 4). */
sealed interface ClientRequest {

    Optional<String> requestId();

    record Auth(Optional<String> requestId, String apiKey) implements ClientRequest {
        @Override
        public String toString() {
            return "Auth[]"; // never the key
        }
    }

    record Subscribe(Optional<String> requestId, Optional<List<String>> tables, Optional<String> resumeFrom,
                     Optional<String> subscriptionId, Optional<Filter> filter) implements ClientRequest {

        Subscribe(Optional<String> requestId, Optional<List<String>> tables, Optional<String> resumeFrom,
                  Optional<String> subscriptionId) {
            this(requestId, tables, resumeFrom, subscriptionId, Optional.empty());
        }
    }

    record Unsubscribe(Optional<String> requestId, String subscriptionId) implements ClientRequest {
    }

    record Ping(Optional<String> requestId) implements ClientRequest {
    }

    /** A frame that is not a valid request: what to tell the client. */
    record Invalid(Optional<String> requestId, String message) implements ClientRequest {
    }

    /** Parses one text frame. Never throws: a bad frame becomes {@link Invalid}. */
    static ClientRequest parse(String text) {
        JsonNode root;
        try {
            root = Parser.MAPPER.readTree(text);
        } catch (JsonProcessingException | RuntimeException e) {
            return new Invalid(Optional.empty(), "malformed JSON");
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
        Optional<String> problem = tables.flatMap(TableNames::problem);
        if (problem.isPresent()) {
            return new Invalid(requestId, problem.get());
        }
        if (resumeFrom.isPresent() && Cursor.decode(resumeFrom.get()).isEmpty()) {
            return new Invalid(requestId, "resume_from is not a cursor this service issued");
        }
        Optional<Filter> filter;
        try {
            filter = Filter.parse(root.get("operations"), root.get("filter"));
        } catch (Filter.Invalid e) {
            return new Invalid(requestId, e.getMessage());
        }
        return new Subscribe(requestId, tables, resumeFrom, subscriptionId, filter);
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

    /** The shared parser: strict JSON, with nesting and sizes bounded so a hostile frame stays cheap. */
    final class Parser {
        // buffers from a shared pool: with a virtual thread per connection, thread-local ones cost each connection its own
        static final ObjectMapper MAPPER = JsonMapper.builder(com.fasterxml.jackson.core.JsonFactory.builder()
                        .recyclerPool(com.fasterxml.jackson.core.util.JsonRecyclerPools.sharedConcurrentDequePool())
                        .build())
                .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .build();

        static {
            MAPPER.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                                                                 .maxNestingDepth(32)
                                                                 .maxStringLength(70_000)
                                                                 .maxNumberLength(100)
                                                                 .build());
        }

        private Parser() {
        }
    }
}
