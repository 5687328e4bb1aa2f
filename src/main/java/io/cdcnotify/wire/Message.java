package io.cdcnotify.wire;

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
     * An error.
     *
     * @param cursor for {@code slow_consumer} only: the cursor of the last event written to the connection, empty
     *               when none was. A {@code slow_consumer} error always carries {@code "cursor"} (null when empty);
     *               no other error has the field.
     */
    record Error(Optional<String> requestId, ErrorCode code, String message, Optional<String> cursor)
            implements Message {

        public static Error of(ErrorCode code, String message) {
            return new Error(Optional.empty(), code, message, Optional.empty());
        }

        public static Error answering(Optional<String> requestId, ErrorCode code, String message) {
            return new Error(requestId, code, message, Optional.empty());
        }

        public static Error slowConsumer(String message, Optional<String> lastCursor) {
            return new Error(Optional.empty(), ErrorCode.SLOW_CONSUMER, message, lastCursor);
        }

        /** Whether the JSON has a {@code "cursor"} field, null or not. */
        public boolean carriesCursor() {
            return code == ErrorCode.SLOW_CONSUMER;
        }
    }
}
