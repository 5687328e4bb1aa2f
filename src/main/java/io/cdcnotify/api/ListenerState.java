package io.cdcnotify.api;

/**
 * The outbox listener as the API reports it.
 *
 * @param connected   whether the LISTEN connection is up
 * @param lastEventId id of the last outbox row read, -1 before the first
 * @param reconnects  reconnections since start
 * @param lagMillis   from the last row's {@code created_at} to its read
 */
public record ListenerState(boolean connected, long lastEventId, long reconnects, long lagMillis) {
}
