package io.cdcnotify.api;

import java.util.function.Supplier;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.wire.Json;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/** {@code GET /v1/state}: what this instance is doing now, for any valid key. */
public final class StateService implements HttpService {

    private final Rest rest;
    private final Hub hub;
    private final Supplier<ListenerState> listener;
    private final String version;
    private final Supplier<FanoutState> fanout;

    public StateService(ApiKeys keys, Hub hub, Supplier<ListenerState> listener, String version) {
        this(keys, hub, listener, version, FanoutState::database);
    }

    public StateService(ApiKeys keys, Hub hub, Supplier<ListenerState> listener, String version,
                        Supplier<FanoutState> fanout) {
        this.rest = new Rest(keys, 0);
        this.hub = hub;
        this.listener = listener;
        this.version = version;
        this.fanout = fanout;
    }

    @Override
    public void routing(HttpRules rules) {
        rules.get("/", this::state);
    }

    private void state(ServerRequest req, ServerResponse res) {
        if (rest.key(req, res).isEmpty()) {
            return;
        }
        ListenerState l = listener.get();
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("version", version);
        ObjectNode listenerNode = body.putObject("listener");
        listenerNode.put("connected", l.connected());
        listenerNode.put("last_event_id", l.lastEventId() < 0 ? null : Long.toString(l.lastEventId()));
        listenerNode.put("reconnects", l.reconnects());
        ObjectNode connections = body.putObject("connections");
        connections.put("websocket", hub.connections("websocket"));
        connections.put("sse", hub.connections("sse"));
        body.put("subscriptions", hub.subscriptions().size());
        body.put("queued_events", hub.queuedEvents());
        body.put("lag_ms", l.lagMillis());
        FanoutState f = fanout.get();
        ObjectNode fanoutNode = body.putObject("fanout");
        fanoutNode.put("mode", f.mode());
        if (f.stream() != null) {
            fanoutNode.put("leader", f.leader());
            fanoutNode.put("stream", f.stream());
            fanoutNode.put("stream_sequence", f.streamSequence());
            fanoutNode.put("consumed_sequence", f.consumedSequence());
        }
        Rest.json(res, Status.OK_200, body);
    }
}
