package io.cdcnotify.hub;

import java.nio.charset.StandardCharsets;

import io.cdcnotify.outbox.OutboxEvent;

/**
 * An event on its way to clients, encoded once: every recipient shares the same JSON text, and every SSE
 * recipient the same frame bytes.
 */
public final class Publication {

    private final OutboxEvent event;
    private final String json;
    private final String cursor;
    private volatile byte[] sseFrame;

    public Publication(OutboxEvent event) {
        this.event = event;
        this.cursor = event.cursor().encode();
        this.json = event.toJson(cursor);
    }

    public OutboxEvent event() {
        return event;
    }

    /** The event JSON of the contract, section 3. */
    public String json() {
        return json;
    }

    /** The event's cursor, as sent. */
    public String cursor() {
        return cursor;
    }

    /** The whole SSE message for this event: the same bytes for every SSE client. */
    public byte[] sseFrame() {
        byte[] frame = sseFrame;
        if (frame == null) {
            // a benign race: two threads may both build identical bytes
            frame = ("id: " + cursor + "\nevent: cdc_event\ndata: " + json + "\n\n").getBytes(StandardCharsets.UTF_8);
            sseFrame = frame;
        }
        return frame;
    }

    /** Rough heap cost, for the detached queues' memory budget. */
    long weight() {
        return 64L + 2L * json.length();
    }
}
