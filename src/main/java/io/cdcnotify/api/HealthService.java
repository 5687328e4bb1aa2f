package io.cdcnotify.api;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/** {@code GET /health} (and {@code HEAD}): UP when the database answers and the listener is connected; 503 otherwise. */
public final class HealthService implements HttpService {

    private final BooleanSupplier database;
    private final Supplier<ListenerState> listener;

    public HealthService(BooleanSupplier database, Supplier<ListenerState> listener) {
        this.database = database;
        this.listener = listener;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::health);
        rules.head("/", this::probe);
    }

    /** {@code HEAD /health}: the same status, without a body, for probes that only look at it. */
    private void probe(ServerRequest req, ServerResponse res) {
        boolean up = database.getAsBoolean() && listener.get().connected();
        res.status(up ? Status.OK_200 : Status.SERVICE_UNAVAILABLE_503).send();
    }

    private void health(ServerRequest req, ServerResponse res) {
        boolean db = database.getAsBoolean();
        boolean listening = listener.get().connected();
        boolean up = db && listening;
        ObjectNode body = Rest.JSON.createObjectNode();
        body.put("status", up ? "UP" : "DOWN");
        ObjectNode checks = body.putObject("checks");
        checks.put("database", db ? "UP" : "DOWN");
        checks.put("listener", listening ? "UP" : "DOWN");
        Rest.json(res, up ? Status.OK_200 : Status.SERVICE_UNAVAILABLE_503, body);
    }
}
