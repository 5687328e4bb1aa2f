package io.cdcnotify.wire;

import java.util.Optional;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Server messages as WebSocket JSON text (contract section 4): every one carries {@code "v":1} and its type. */
public final class WsMessages {

    private static final String EVENT_PREFIX = "{\"v\":1,\"type\":\"cdc_event\",\"subscription_id\":\"";
    private static final String EVENT_MIDDLE = "\",\"event\":";

    private WsMessages() {
    }

    /** A {@code cdc_event} frame around the event JSON shared by all its recipients. */
    public static String event(String subscriptionId, String eventJson) {
        return new StringBuilder(EVENT_PREFIX.length() + subscriptionId.length() + EVENT_MIDDLE.length()
                                         + eventJson.length() + 1)
                .append(EVENT_PREFIX).append(subscriptionId).append(EVENT_MIDDLE).append(eventJson).append('}')
                .toString();
    }

    public static String encode(Message message) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("v", 1);
        switch (message) {
            case Message.AuthOk m -> {
                o.put("type", "auth_ok");
                o.put("connection_id", m.connectionId());
            }
            case Message.Subscribed m -> {
                o.put("type", "subscribed");
                requestId(o, m.requestId());
                o.put("subscription_id", m.subscriptionId());
                ArrayNode tables = o.putArray("tables");
                m.tables().forEach(tables::add);
            }
            case Message.Unsubscribed m -> {
                o.put("type", "unsubscribed");
                requestId(o, m.requestId());
                o.put("subscription_id", m.subscriptionId());
            }
            case Message.Pong m -> {
                o.put("type", "pong");
                requestId(o, m.requestId());
            }
            case Message.Error m -> {
                o.put("type", "error");
                requestId(o, m.requestId());
                SseFrames.errorFields(o, m);
            }
        }
        return Json.write(o);
    }

    private static void requestId(ObjectNode o, Optional<String> requestId) {
        requestId.ifPresent(r -> o.put("request_id", r));
    }
}
