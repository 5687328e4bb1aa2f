package io.cdcnotify.hub;

import java.util.function.Predicate;

/**
 * One client attached to one subscription. Its live filter belongs to the client's writer thread.
 */
final class Attachment {

    private final Client client;
    private final Subscription subscription;
    /** Live events that also came through a backlog fail this; null when none did. */
    private Predicate<Publication> liveFilter;
    private volatile boolean detached;

    Attachment(Client client, Subscription subscription) {
        this.client = client;
        this.subscription = subscription;
    }

    Client client() {
        return client;
    }

    Subscription subscription() {
        return subscription;
    }

    boolean wanted(Publication publication) {
        return !detached && (liveFilter == null || liveFilter.test(publication));
    }

    void liveFilter(Predicate<Publication> filter) {
        this.liveFilter = filter;
    }

    boolean detached() {
        return detached;
    }

    void markDetached() {
        detached = true;
    }
}
