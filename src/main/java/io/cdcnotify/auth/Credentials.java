package io.cdcnotify.auth;

import java.util.Optional;

import io.helidon.common.uri.UriQuery;
import io.helidon.http.HeaderNames;
import io.helidon.http.Headers;

/** Where a client may put its key: {@code Authorization: Bearer <key>}, or {@code ?api_key=<key>}. */
public final class Credentials {

    private static final String BEARER = "Bearer ";

    private Credentials() {
    }

    /** The key a request carries; the header wins over the query. */
    public static Optional<String> from(Headers headers, UriQuery query) {
        Optional<String> bearer = bearer(headers);
        if (bearer.isPresent()) {
            return bearer;
        }
        return query.first("api_key").asOptional().filter(k -> !k.isEmpty());
    }

    /** The key in an {@code Authorization: Bearer} header. */
    public static Optional<String> bearer(Headers headers) {
        return headers.first(HeaderNames.AUTHORIZATION)
                .filter(h -> h.regionMatches(true, 0, BEARER, 0, BEARER.length()))
                .map(h -> h.substring(BEARER.length()).trim())
                .filter(k -> !k.isEmpty());
    }
}
