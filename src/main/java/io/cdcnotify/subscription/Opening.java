package io.cdcnotify.subscription;

import java.util.List;
import java.util.Optional;

import io.cdcnotify.hub.Backlog;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.wire.ClientRequest;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Filter;

/** What asking to subscribe (or attach, or resume) comes to: a subscription to attach to, or an error. */
public sealed interface Opening {

    /**
     * @param subscription what to attach to
     * @param backlog      what to replay first when resuming by cursor
     * @param created      true when the subscription was made for this request
     */
    record Ready(Subscription subscription, Optional<Backlog> backlog, boolean created) implements Opening {
    }

    record Refused(ErrorCode code, String message) implements Opening {
    }

    /**
     * A subscribe request, in any transport's terms, already checked by its parser ({@code wire.ClientRequest}):
     * the tables are valid names and the cursor one this service issued.
     *
     * @param tables         the tables named, if any
     * @param subscriptionId an existing subscription to attach to, if any
     * @param cursor         resume after this cursor, if any
     * @param durable        whether a subscription made for it outlives the connection
     * @param filter         which events of the tables it wants (for a new subscription only)
     */
    record Request(Optional<List<String>> tables, Optional<String> subscriptionId, Optional<Cursor> cursor,
                   boolean durable, Optional<Filter> filter) {

        public Request(Optional<List<String>> tables, Optional<String> subscriptionId, Optional<Cursor> cursor,
                       boolean durable) {
            this(tables, subscriptionId, cursor, durable, Optional.empty());
        }

        /** A parsed subscribe request; {@code durable} when a subscription made for it outlives the connection. */
        public static Request of(ClientRequest.Subscribe s, boolean durable) {
            return new Request(s.tables(), s.subscriptionId(), s.resumeFrom(), durable, s.filter());
        }
    }
}
