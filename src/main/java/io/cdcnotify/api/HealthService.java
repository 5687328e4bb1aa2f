package io.cdcnotify.api;

import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.wire.Json;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * {@code GET /health}: UP when the database answers, the listener is connected and every thread the service
 * depends on (the periodic jobs, the timer, the watchdog) is alive and making progress; 503 otherwise. Each check
 * is UP or DOWN, nothing more. {@code HEAD /health}: the same status without a body.
 */
public final class HealthService implements HttpService {

    private final BooleanSupplier database;
    private final Supplier<ListenerState> listener;
    private final Map<String, BooleanSupplier> threads;

    /**
     * @param threads further checks by name, in the order the body lists them
     */
    public HealthService(BooleanSupplier database, Supplier<ListenerState> listener,
                         Map<String, BooleanSupplier> threads) {
        this.database = database;
        this.listener = listener;
        this.threads = new java.util.LinkedHashMap<>(threads);
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::health);
        rules.head("/", this::probe);
    }

    /** {@code HEAD /health}: the same status, without a body, for probes that only look at it. */
    private void probe(ServerRequest req, ServerResponse res) {
        boolean up = database.getAsBoolean() && listener.get().connected()
                     && threads.values().stream().allMatch(BooleanSupplier::getAsBoolean);
        res.status(up ? Status.OK_200 : Status.SERVICE_UNAVAILABLE_503).send();
    }

    private void health(ServerRequest req, ServerResponse res) {
        boolean db = database.getAsBoolean();
        boolean listening = listener.get().connected();
        boolean up = db && listening;
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("status", "DOWN");
        ObjectNode checks = body.putObject("checks");
        checks.put("database", db ? "UP" : "DOWN");
        checks.put("listener", listening ? "UP" : "DOWN");
        for (Map.Entry<String, BooleanSupplier> check : threads.entrySet()) {
            boolean ok = check.getValue().getAsBoolean();
            checks.put(check.getKey(), ok ? "UP" : "DOWN");
            up &= ok;
        }
        body.put("status", up ? "UP" : "DOWN");
        Rest.json(res, up ? Status.OK_200 : Status.SERVICE_UNAVAILABLE_503, body);
    }
}
