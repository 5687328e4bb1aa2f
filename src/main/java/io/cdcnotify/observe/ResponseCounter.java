package io.cdcnotify.observe;

import java.util.function.BiPredicate;
import java.util.function.Predicate;

import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;

/**
 * Counts HTTP responses by status class ({@code cdc_http_responses_total{status="5xx"}}), what the "server
 * errors" alert watches. A response counts when its handler is done: an SSE stream when it ends, a WebSocket
 * upgrade once, as its 101. It runs a first step that may answer the request itself (CORS), and marks the
 * requests that may see health details ({@link ObserveEndpoints#healthDetails()}), so that the three are one
 * filter: each filter is three frames under every handler, which a parked SSE stream keeps in the heap.
 */
final class ResponseCounter implements Filter {

    private final Meters meters;
    private final BiPredicate<RoutingRequest, RoutingResponse> answeredFirst;
    private final Predicate<RoutingRequest> healthDetails;

    ResponseCounter(Meters meters, BiPredicate<RoutingRequest, RoutingResponse> answeredFirst,
                    Predicate<RoutingRequest> healthDetails) {
        this.meters = meters;
        this.answeredFirst = answeredFirst;
        this.healthDetails = healthDetails;
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        boolean done = false;
        boolean details = healthDetails.test(req);
        if (details) {
            ObserveEndpoints.markDetails();
        }
        try {
            if (!answeredFirst.test(req, res)) {
                chain.proceed();
            }
            done = true;
        } finally {
            if (details) {
                ObserveEndpoints.unmarkDetails();
            }
            // an exception that escaped every handler becomes a 500 after this filter
            meters.httpResponse(done || res.isSent() ? res.status().code() : 500);
        }
    }
}
