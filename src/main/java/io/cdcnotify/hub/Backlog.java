package io.cdcnotify.hub;

import java.util.List;

/**
 * Events a client must get before its live ones: a resume from the outbox by cursor, or what waited in a
 * detached subscription's queue. Read by the client's writer, one page at a time, at the client's pace.
 */
public interface Backlog {

    /** The next page, in order. */
    List<Publication> nextPage() throws Exception;

    /** True once the last page read reached the end: nothing was left at that moment. */
    boolean caughtUp();

    /**
     * Once caught up: true for an event this backlog did not deliver. Live events that also came through the
     * backlog are dropped with it, so none arrives twice.
     */
    boolean notDelivered(Publication publication);

    /**
     * True when reading on finds again whatever live events were dropped meanwhile (the outbox does); false for
     * a backlog read once from memory.
     */
    default boolean rereadable() {
        return false;
    }

    /** A backlog of events already in memory. */
    static Backlog of(List<Publication> events) {
        return new Backlog() {
            private boolean read;

            @Override
            public List<Publication> nextPage() {
                if (read) {
                    return List.of();
                }
                read = true;
                return events;
            }

            @Override
            public boolean caughtUp() {
                return read;
            }

            @Override
            public boolean notDelivered(Publication publication) {
                return true;
            }
        };
    }
}
