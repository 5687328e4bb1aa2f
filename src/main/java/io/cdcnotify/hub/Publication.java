package io.cdcnotify.hub;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;

import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.wire.EventJson;
import io.cdcnotify.wire.SseFrames;

/**
 * An event on its way to clients, encoded once: every recipient shares the same JSON text, and every SSE
 * recipient the same frame bytes.
 *
 * <p>It also knows its size and how many buffers hold it, so that the service's memory budget counts a shared
 * event once however many connections have it queued (see {@link Memory}).
 */
public final class Publication {

    /** Framing around the event JSON: the SSE {@code id:}/{@code event:} lines, or the WebSocket envelope. */
    private static final int FRAMING = 64;
    private static final VarHandle HOLDERS;

    static {
        try {
            HOLDERS = MethodHandles.lookup().findVarHandle(Publication.class, "holders", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final OutboxEvent event;
    private final String json;
    private final String cursor;
    private final int size;
    private volatile byte[] sseFrame;
    private volatile byte[] jsonUtf8;
    /** Buffers (connection queues, detached queues) holding it now; updated through {@link #HOLDERS}. */
    @SuppressWarnings("unused")
    private volatile int holders;

    public Publication(OutboxEvent event) {
        this.event = event;
        this.cursor = event.cursor().encode();
        this.json = EventJson.write(event, cursor);
        this.size = FRAMING + cursor.length() + json.length();
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
            frame = SseFrames.event(cursor, json);
            sseFrame = frame;
        }
        return frame;
    }

    /** The event JSON as UTF-8, the same bytes for every WebSocket client (their envelopes differ only around it). */
    public byte[] jsonUtf8() {
        byte[] bytes = jsonUtf8;
        if (bytes == null) {
            // a benign race, as above
            bytes = json.getBytes(StandardCharsets.UTF_8);
            jsonUtf8 = bytes;
        }
        return bytes;
    }

    /**
     * What this event weighs in the byte budgets: its encoded size on the wire (the event JSON, its cursor and
     * the framing), counted in characters. The heap it holds is about twice that (the outbox payload and the
     * JSON), three times once an SSE or a WebSocket client has asked for its bytes, four with both.
     */
    public long weight() {
        return size;
    }

    /** A buffer took it: the first holder charges its weight to {@code memory}. */
    void hold(Memory memory) {
        if ((int) HOLDERS.getAndAdd(this, 1) == 0) {
            memory.add(size);
        }
    }

    /** A buffer let it go: the last holder gives its weight back. */
    void release(Memory memory) {
        if ((int) HOLDERS.getAndAdd(this, -1) == 1) {
            memory.add(-size);
        }
    }
}
