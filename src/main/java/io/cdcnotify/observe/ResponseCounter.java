package io.cdcnotify.observe;

import java.util.function.BiPredicate;
import java.util.function.Predicate;

import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * The routing's first handler, for every request: counts HTTP responses by status class
 * ({@code cdc_http_responses_total{status="5xx"}}, what the "server errors" alert watches) as each is sent, runs a
 * first step that may answer the request itself (CORS), and marks the requests that may see health details
 * ({@link ObserveEndpoints#healthDetails()}); then routing goes on ({@code next()}).
 *
 * <p>A handler that has returned, not a filter: a filter stays on the stack under every handler (three frames
 * each, and Helidon's filter chain under the first), and a parked SSE stream keeps its frames in the heap for as
 * long as it is open (docs/benchmarks.md, "Session 11"). What a filter did after its handler is done here by
 * {@code whenSent}: an SSE stream counts when it ends, an error as the 500 the error handler sends.
 */
final class ResponseCounter implements Handler {

    private final Meters meters;
    private final BiPredicate<ServerRequest, ServerResponse> answeredFirst;
    private final Predicate<ServerRequest> healthDetails;

    ResponseCounter(Meters meters, BiPredicate<ServerRequest, ServerResponse> answeredFirst,
                    Predicate<ServerRequest> healthDetails) {
        this.meters = meters;
        this.answeredFirst = answeredFirst;
        this.healthDetails = healthDetails;
    }

    @Override
    public void handle(ServerRequest req, ServerResponse res) {
        res.whenSent(() -> meters.httpResponse(res.status().code()));
        if (answeredFirst.test(req, res)) {
            return;
        }
        if (healthDetails.test(req)) {
            // the health handler runs later on this thread, and sends on it
            ObserveEndpoints.markDetails();
            res.whenSent(ObserveEndpoints::unmarkDetails);
        } else {
            ObserveEndpoints.unmarkDetails(); // never a mark left from an earlier request on this connection
        }
        res.next();
    }
}
