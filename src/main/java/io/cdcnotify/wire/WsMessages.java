package io.cdcnotify.wire;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Server messages as WebSocket JSON text (contract section 4): every one carries {@code "v":1} and its type. */
public final class WsMessages {

    private static final String EVENT_PREFIX = "{\"v\":1,\"type\":\"cdc_event\",\"subscription_id\":\"";
    private static final String EVENT_MIDDLE = "\",\"event\":";
    private static final byte[] EVENT_PREFIX_UTF8 = EVENT_PREFIX.getBytes(StandardCharsets.UTF_8);
    private static final byte[] EVENT_MIDDLE_UTF8 = EVENT_MIDDLE.getBytes(StandardCharsets.UTF_8);

    private WsMessages() {
    }

    /** A {@code cdc_event} frame around the event JSON shared by all its recipients. */
    public static String event(String subscriptionId, String eventJson) {
        return new StringBuilder(EVENT_PREFIX.length() + subscriptionId.length() + EVENT_MIDDLE.length()
                                         + eventJson.length() + 1)
                .append(EVENT_PREFIX).append(subscriptionId).append(EVENT_MIDDLE).append(eventJson).append('}')
                .toString();
    }

    /** The UTF-8 length of {@link #event}'s text, from the subscription id's and the event JSON's UTF-8 bytes. */
    public static int eventLength(byte[] subscriptionId, byte[] eventJson) {
        return EVENT_PREFIX_UTF8.length + subscriptionId.length + EVENT_MIDDLE_UTF8.length + eventJson.length + 1;
    }

    /**
     * Writes {@link #event}'s text as UTF-8 into {@code to} at {@code at} ({@link #eventLength} bytes), so that a
     * writer frames the shared event JSON without a text of its own for each recipient.
     */
    public static void putEvent(byte[] to, int at, byte[] subscriptionId, byte[] eventJson) {
        int i = at;
        System.arraycopy(EVENT_PREFIX_UTF8, 0, to, i, EVENT_PREFIX_UTF8.length);
        i += EVENT_PREFIX_UTF8.length;
        System.arraycopy(subscriptionId, 0, to, i, subscriptionId.length);
        i += subscriptionId.length;
        System.arraycopy(EVENT_MIDDLE_UTF8, 0, to, i, EVENT_MIDDLE_UTF8.length);
        i += EVENT_MIDDLE_UTF8.length;
        System.arraycopy(eventJson, 0, to, i, eventJson.length);
        to[i + eventJson.length] = '}';
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
