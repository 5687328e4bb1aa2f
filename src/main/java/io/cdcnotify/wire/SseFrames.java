package io.cdcnotify.wire;

import java.nio.charset.StandardCharsets;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Server-Sent Events framing (contract section 5): each message ends with an empty line, data is one line of
 * JSON. The server messages without an SSE form ({@code auth_ok}, {@code pong}, {@code unsubscribed}) have none
 * here either.
 */
public final class SseFrames {

    /** The comment a stream that has been quiet for a while gets. */
    public static final byte[] KEEPALIVE = ": keepalive\n\n".getBytes(StandardCharsets.UTF_8);

    private SseFrames() {
    }

    /** An event's frame: the same bytes for every SSE client (see {@code hub.Publication}). */
    public static byte[] event(String cursor, String eventJson) {
        return ("id: " + cursor + "\nevent: cdc_event\ndata: " + eventJson + "\n\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The stream's first message, with the reconnection delay browsers use. */
    public static byte[] subscribed(Message.Subscribed m) {
        ObjectNode data = Json.MAPPER.createObjectNode();
        data.put("subscription_id", m.subscriptionId());
        m.tables().forEach(data.putArray("tables")::add);
        return ("retry: 2000\nevent: subscribed\ndata: " + Json.write(data) + "\n\n").getBytes(StandardCharsets.UTF_8);
    }

    /** An error on an open stream: the body of an HTTP error, plus the cursor of a {@code slow_consumer}. */
    public static byte[] error(Message.Error m) {
        ObjectNode data = Json.MAPPER.createObjectNode();
        errorFields(data, m);
        return ("event: error\ndata: " + Json.write(data) + "\n\n").getBytes(StandardCharsets.UTF_8);
    }

    /** The fields every transport's error has: code, message and, for {@code slow_consumer}, the cursor. */
    static void errorFields(ObjectNode o, Message.Error m) {
        o.put("code", m.code().wire());
        o.put("message", m.message());
        if (m.carriesCursor()) {
            o.put("cursor", m.cursor().orElse(null));
        }
    }
}
