package io.cdcnotify.subscription;

import java.util.List;
import java.util.Optional;

import io.cdcnotify.hub.Backlog;
import io.cdcnotify.hub.ErrorCode;
import io.cdcnotify.hub.Filter;
import io.cdcnotify.hub.Subscription;

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
     * A subscribe request, in any transport's terms.
     *
     * @param tables         the tables named, if any
     * @param subscriptionId an existing subscription to attach to, if any
     * @param cursor         resume after this cursor, if any
     * @param durable        whether a subscription made for it outlives the connection
     * @param filter         which events of the tables it wants (for a new subscription only)
     */
    record Request(Optional<List<String>> tables, Optional<String> subscriptionId, Optional<String> cursor,
                   boolean durable, Optional<Filter> filter) {

        public Request(Optional<List<String>> tables, Optional<String> subscriptionId, Optional<String> cursor,
                       boolean durable) {
            this(tables, subscriptionId, cursor, durable, Optional.empty());
        }
    }
}
