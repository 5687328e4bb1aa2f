package io.cdcnotify.api;

import java.util.Optional;
import java.util.Set;

import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.HttpErrors;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * CORS for browser {@code EventSource} and {@code fetch} from other origins: only the configured origins
 * (default: none) get {@code Access-Control-Allow-Origin}, and only they pass a preflight. Keys travel in the
 * {@code Authorization} header or the query, never in cookies, so credentials are not allowed.
 *
 * <p>Written here rather than with Helidon's CORS feature, whose defaults allow every origin as soon as it is
 * on the classpath: a default this service must not have. Not a Helidon filter: it runs as the first step of
 * {@code observe/ResponseCounter}, the routing's first handler, since every filter adds three frames under each
 * handler, and a parked SSE stream keeps its frames in the heap for as long as it is open (docs/benchmarks.md,
 * "Session 8" and "Session 11").
 */
public final class CorsFilter {

    private static final String METHODS = "GET, POST, DELETE, OPTIONS";
    private static final String HEADERS = "Authorization, Content-Type, Last-Event-ID";

    private final Set<String> origins;

    /** @param origins allowed origins such as {@code https://app.example.com}; {@code *} allows any */
    public CorsFilter(Set<String> origins) {
        this.origins = Set.copyOf(origins);
    }

    /**
     * Runs before the request's handler: adds the CORS headers an allowed origin gets, and answers a preflight
     * (204, or 403 for an origin not allowed) itself.
     *
     * @return true if the request is answered, false if its handler is to run
     */
    public boolean answered(ServerRequest req, ServerResponse res) {
        Optional<String> origin = req.headers().first(HeaderNames.ORIGIN);
        if (origin.isEmpty()) {
            if (!origins.isEmpty()) {
                // a response cached without an Origin must not be reused for a cross-origin request
                res.header(HeaderNames.VARY, "Origin");
            }
            return false;
        }
        boolean allowed = origins.contains("*") || origins.contains(origin.get());
        boolean preflight = req.prologue().method() == Method.OPTIONS
                && req.headers().contains(HeaderNames.ACCESS_CONTROL_REQUEST_METHOD);
        if (preflight) {
            if (!allowed) {
                HttpErrors.send(res, ErrorCode.FORBIDDEN, "origin not allowed");
                return true;
            }
            allow(res, origin.get());
            res.header(HeaderNames.ACCESS_CONTROL_ALLOW_METHODS, METHODS);
            res.header(HeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, HEADERS);
            res.header(HeaderNames.ACCESS_CONTROL_MAX_AGE, "600");
            res.status(Status.NO_CONTENT_204);
            res.send();
            return true;
        }
        if (allowed) {
            allow(res, origin.get());
        }
        return false;
    }

    private static void allow(ServerResponse res, String origin) {
        res.header(HeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        res.header(HeaderNames.VARY, "Origin");
    }
}
