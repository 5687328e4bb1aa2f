package io.cdcnotify.hub;

import java.util.List;
import java.util.Optional;

/**
 * A message from the server to one client, other than an event. Each transport renders it in its own
 * framing (contract sections 4 and 5).
 */
public sealed interface Message {

    /** The request this answers, if any. */
    Optional<String> requestId();

    record AuthOk(String connectionId) implements Message {
        @Override
        public Optional<String> requestId() {
            return Optional.empty();
        }
    }

    record Subscribed(Optional<String> requestId, String subscriptionId, List<String> tables) implements Message {
    }

    record Unsubscribed(Optional<String> requestId, String subscriptionId) implements Message {
    }

    record Pong(Optional<String> requestId) implements Message {
    }

    /**
     * An error. {@code cursor} is present only for {@code slow_consumer}, where it may be null (nothing written
     * yet): then the JSON carries {@code "cursor":null}.
     */
    record Error(Optional<String> requestId, ErrorCode code, String message, Optional<Optional<String>> cursor)
            implements Message {

        public static Error of(ErrorCode code, String message) {
            return new Error(Optional.empty(), code, message, Optional.empty());
        }

        public static Error answering(Optional<String> requestId, ErrorCode code, String message) {
            return new Error(requestId, code, message, Optional.empty());
        }
    }
}
