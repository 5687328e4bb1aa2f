package io.cdcnotify.wire;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.outbox.OutboxEvent;

/**
 * Which events of its tables a subscription wants: some operations only, and payload fields equal to a value or
 * to one of several. The grammar, checked by {@link #parse}:
 *
 * <pre>
 * "operations": ["INSERT", "UPDATE"]                      any of these operations (default: all)
 * "filter": {"status": "paid",                           a field equal to a JSON scalar
 *            "new.region": {"in": ["eu", "us"]},          … or equal to one of several
 *            "amount": {"eq": 10}}                        … or, spelled out, equal to one
 * </pre>
 *
 * All conditions must hold. A path names fields of the payload, separated by dots ({@code new.status} for a
 * captured table's new row). A missing field is not equal to anything but {@code null}. Numbers compare by value
 * ({@code 10} equals {@code 10.0}).
 *
 * <p>Evaluation is built for many subscribers on one table: an event's payload is parsed at most once, each
 * distinct path is looked up once per event ({@link Payload}), and a condition is a hash-set probe.
 */
public final class Filter {

    public static final Set<String> OPERATIONS = Set.of("INSERT", "UPDATE", "DELETE");
    private static final int MAX_CONDITIONS = 16;
    private static final int MAX_VALUES = 1000;
    private static final int MAX_PATH = 256;
    /** PostgreSQL's jsonb cannot hold it, so no payload ever has it either. */
    private static final String NUL = "a filter may not contain the NUL character (\\u0000)";

    private final Set<String> operations;
    private final List<Condition> conditions;

    private record Condition(String path, String[] fields, Set<String> allowed, JsonNode spec) {
    }

    private Filter(Set<String> operations, List<Condition> conditions) {
        this.operations = operations;
        this.conditions = conditions;
    }

    /** Why a filter is refused. */
    public static final class Invalid extends RuntimeException {
        public Invalid(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * Reads {@code operations} and {@code filter} from a request; empty when neither restricts anything.
     *
     * @throws Invalid with a message that says what is wrong
     */
    public static Optional<Filter> parse(JsonNode operations, JsonNode filter) {
        Set<String> ops = Set.of();
        if (operations != null && !operations.isNull()) {
            if (!operations.isArray() || operations.isEmpty()) {
                throw new Invalid("operations must be a non-empty array of INSERT, UPDATE, DELETE");
            }
            Set<String> chosen = new LinkedHashSet<>();
            for (JsonNode o : operations) {
                if (!o.isTextual() || !OPERATIONS.contains(o.asText().toUpperCase(Locale.ROOT))) {
                    throw new Invalid("operations must be a non-empty array of INSERT, UPDATE, DELETE");
                }
                chosen.add(o.asText().toUpperCase(Locale.ROOT));
            }
            ops = chosen.size() == OPERATIONS.size() ? Set.of() : Set.copyOf(chosen);
        }
        List<Condition> conditions = new ArrayList<>();
        if (filter != null && !filter.isNull()) {
            if (!filter.isObject()) {
                throw new Invalid("filter must be an object of field paths to values, e.g. {\"status\": {\"in\": [\"paid\"]}}");
            }
            if (filter.size() > MAX_CONDITIONS) {
                throw new Invalid("a filter may have at most " + MAX_CONDITIONS + " conditions");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = filter.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                conditions.add(condition(e.getKey(), e.getValue()));
            }
        }
        if (ops.isEmpty() && conditions.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new Filter(ops, List.copyOf(conditions)));
    }

    /** The filter as stored (written by {@link #toJson}: trusted, so read without the client-input limits) ({@code {"operations": [...], "filter": {...}}}). */
    public static Optional<Filter> fromJson(String json) {
        try {
            JsonNode n = Json.MAPPER.readTree(json);
            return parse(n.get("operations"), n.get("filter"));
        } catch (java.io.IOException e) {
            throw new Invalid("unreadable filter");
        }
    }

    public String toJson() {
        ObjectNode o = Json.MAPPER.createObjectNode();
        if (!operations.isEmpty()) {
            ArrayNode ops = o.putArray("operations");
            OPERATIONS.stream().sorted().filter(operations::contains).forEach(ops::add);
        }
        if (!conditions.isEmpty()) {
            ObjectNode f = o.putObject("filter");
            conditions.forEach(c -> f.set(c.path(), c.spec()));
        }
        return Json.write(o);
    }

    /** Whether the event passes; the payload view is shared by every filter looking at the same event. */
    public boolean matches(OutboxEvent event, Payload payload) {
        if (!operations.isEmpty() && !operations.contains(event.operation())) {
            return false;
        }
        for (Condition c : conditions) {
            if (!c.allowed().contains(payload.key(c.path(), c.fields()))) {
                return false;
            }
        }
        return true;
    }

    private static Condition condition(String path, JsonNode spec) {
        if (path.isEmpty() || path.length() > MAX_PATH || path.startsWith(".") || path.endsWith(".") || path.contains("..")) {
            throw new Invalid("a filter path is field names separated by dots, e.g. new.status");
        }
        if (path.indexOf('\u0000') >= 0) {
            throw new Invalid(NUL); // a durable subscription's filter is stored as jsonb
        }
        Set<String> allowed = new HashSet<>();
        if (spec.isObject()) {
            if (spec.size() != 1 || !(spec.has("eq") || spec.has("in"))) {
                throw new Invalid("a condition on " + path + " is a value, {\"eq\": value} or {\"in\": [values]}");
            }
            if (spec.has("eq")) {
                allowed.add(scalarKey(path, spec.get("eq")));
            } else {
                JsonNode in = spec.get("in");
                if (!in.isArray() || in.isEmpty() || in.size() > MAX_VALUES) {
                    throw new Invalid("\"in\" on " + path + " takes an array of 1 to " + MAX_VALUES + " values");
                }
                for (JsonNode v : in) {
                    allowed.add(scalarKey(path, v));
                }
            }
        } else {
            allowed.add(scalarKey(path, spec));
        }
        return new Condition(path, path.split("\\."), Set.copyOf(allowed), spec);
    }

    private static String scalarKey(String path, JsonNode v) {
        if (v.isContainerNode()) {
            throw new Invalid("values to compare " + path + " with must be strings, numbers, booleans or null");
        }
        if (v.isTextual() && v.asText().indexOf('\u0000') >= 0) {
            throw new Invalid(NUL);
        }
        return key(v);
    }

    /** A scalar as a comparable key; objects and arrays never equal a filter value. */
    static String key(JsonNode v) {
        if (v == null || v.isMissingNode()) {
            return "null";
        }
        if (v.isTextual()) {
            return "s:" + v.asText();
        }
        if (v.isNumber()) {
            BigDecimal d = v.decimalValue().stripTrailingZeros();
            return "n:" + d.toPlainString();
        }
        if (v.isBoolean()) {
            return "b:" + v.asBoolean();
        }
        if (v.isNull()) {
            return "null";
        }
        return "x:" + System.identityHashCode(v);
    }

    /** One event's payload, parsed on first use, with each path looked up once. */
    public static final class Payload {
        private final String json;
        private JsonNode root;
        private Map<String, String> keys;

        public Payload(String json) {
            this.json = json;
        }

        String key(String path, String[] fields) {
            if (keys == null) {
                keys = new HashMap<>();
            }
            return keys.computeIfAbsent(path, p -> {
                JsonNode n = root();
                for (String f : fields) {
                    n = n == null ? null : n.get(f);
                }
                return Filter.key(n);
            });
        }

        private JsonNode root() {
            if (root == null) {
                try {
                    root = Json.MAPPER.readTree(json);
                } catch (java.io.IOException e) {
                    root = Json.MAPPER.nullNode();
                }
            }
            return root;
        }
    }
}
