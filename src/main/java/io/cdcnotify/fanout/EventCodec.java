package io.cdcnotify.fanout;

import java.nio.charset.StandardCharsets;

import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.EventJson;

/**
 * An event in the stream: its body is the contract's event JSON, exactly as clients get it, built once by the
 * leader. A consumer reads it back into the {@link OutboxEvent} its hub routes, so the hub's encoding gives the
 * same bytes again.
 */
final class EventCodec {

    private EventCodec() {
    }

    static byte[] encode(OutboxEvent event, String cursor) {
        return EventJson.write(event, cursor).getBytes(StandardCharsets.UTF_8);
    }

    static OutboxEvent decode(byte[] body) {
        return EventJson.read(new String(body, StandardCharsets.UTF_8));
    }
}
