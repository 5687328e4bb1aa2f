package io.cdcnotify.api;

import java.util.Optional;
import java.util.Set;

import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.HttpErrors;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.http.Status;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;

/**
 * CORS for browser {@code EventSource} and {@code fetch} from other origins: only the configured origins
 * (default: none) get {@code Access-Control-Allow-Origin}, and only they pass a preflight. Keys travel in the
 * {@code Authorization} header or the query, never in cookies, so credentials are not allowed.
 *
 * <p>Written here rather than with Helidon's CORS feature, whose defaults allow every origin as soon as it is
 * on the classpath: a default this service must not have.
 */
public final class CorsFilter implements Filter {

    private static final String METHODS = "GET, POST, DELETE, OPTIONS";
    private static final String HEADERS = "Authorization, Content-Type, Last-Event-ID";

    private final Set<String> origins;

    /** @param origins allowed origins such as {@code https://app.example.com}; {@code *} allows any */
    public CorsFilter(Set<String> origins) {
        this.origins = Set.copyOf(origins);
    }

    @Override
    public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        Optional<String> origin = req.headers().first(HeaderNames.ORIGIN);
        if (origin.isEmpty()) {
            if (!origins.isEmpty()) {
                // a response cached without an Origin must not be reused for a cross-origin request
                res.header(HeaderNames.VARY, "Origin");
            }
            chain.proceed();
            return;
        }
        boolean allowed = origins.contains("*") || origins.contains(origin.get());
        boolean preflight = req.prologue().method() == Method.OPTIONS
                && req.headers().contains(HeaderNames.ACCESS_CONTROL_REQUEST_METHOD);
        if (preflight) {
            if (!allowed) {
                HttpErrors.send(res, ErrorCode.FORBIDDEN, "origin not allowed");
                return;
            }
            allow(res, origin.get());
            res.header(HeaderNames.ACCESS_CONTROL_ALLOW_METHODS, METHODS);
            res.header(HeaderNames.ACCESS_CONTROL_ALLOW_HEADERS, HEADERS);
            res.header(HeaderNames.ACCESS_CONTROL_MAX_AGE, "600");
            res.status(Status.NO_CONTENT_204);
            res.send();
            return;
        }
        if (allowed) {
            allow(res, origin.get());
        }
        chain.proceed();
    }

    private static void allow(RoutingResponse res, String origin) {
        res.header(HeaderNames.ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        res.header(HeaderNames.VARY, "Origin");
    }
}
