package io.cdcnotify.listen;

import io.cdcnotify.outbox.OutboxReader;

/**
 * Where the listener hands each page it read, in read order, on its own thread: the hub (database mode), or
 * the relay's stream publisher (relay mode, on the leader). Must not block for long.
 */
@FunctionalInterface
public interface EventSink {

    /** Takes a non-empty page; its events are in read order and {@link OutboxReader.Page#positionAfter} is exact. */
    void publish(OutboxReader.Page page);
}
