package io.cdcnotify.hub;

import io.cdcnotify.wire.ErrorCode;
/**
 * What the hub reports, so that the hub never imports a metrics library. Implementations must be cheap and
 * thread-safe: these are called on the hot path.
 */
public interface HubMetrics {

    /** Reasons an event does not reach a client, as the {@code reason} label. */
    enum DropReason {
        QUEUE_FULL("queue_full"),
        SLOW_CONSUMER("slow_consumer");

        private final String label;

        DropReason(String label) {
            this.label = label;
        }

        public String label() {
            return label;
        }
    }

    HubMetrics NONE = new HubMetrics() {
    };

    /**
     * An HTTP response Helidon does not see sent, by status code ({@code cdc_http_responses_total}): a WebSocket
     * upgrade's 101 (Helidon's routed upgrade does not pass the routing's handlers), an SSE stream whose client
     * went first (its end was never sent).
     */
    default void httpResponse(int status) {
    }

    /** Events read from the outbox. */
    default void received(int count) {
    }

    /**
     * One event written to a client; {@code lagMicros} from its {@code created_at}. May only be recorded: what
     * the meters show follows at the next {@link #publish()}.
     */
    default void delivered(String transport, long lagMicros) {
    }

    /** Brings the meters up to date with what was recorded; the hub calls it about once a second. */
    default void publish() {
    }

    default void dropped(DropReason reason) {
    }

    /** An error sent to a client. */
    default void clientError(ErrorCode code) {
    }
}
