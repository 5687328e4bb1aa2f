package io.cdcnotify.observe;

import io.cdcnotify.hub.ErrorCode;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;

/**
 * Every meter of the service, created here and nowhere else (contract section 8), so that a change in Helidon's
 * metrics API touches one file. Not yet wired to a registry.
 */
public final class Meters implements HubMetrics {
    public interface ListenerGauges {
        boolean connected();

        long reconnects();
    }

    public void watch(Hub hub, ListenerGauges listener) {
    }

    @Override
    public void clientError(ErrorCode code) {
    }
}
