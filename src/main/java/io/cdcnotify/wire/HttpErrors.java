package io.cdcnotify.wire;

import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderValues;
import io.helidon.http.ServerResponseHeaders;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerResponse;

/**
 * The one place an HTTP error response is written: the status, {@code Content-Type: application/json} and the
 * body {@code {"code":"…","message":"…"}} of the contract (sections 5 and 6). REST resources, the SSE service,
 * the CORS filter and the server's own error handlers all answer through it.
 *
 * <p>The one class of this package that knows Helidon: the response types are Helidon's.
 */
public final class HttpErrors {

    private HttpErrors() {
    }

    /** Answers with the code's own status. */
    public static void send(ServerResponse res, ErrorCode code, String message) {
        send(res, code.httpStatus(), code, message);
    }

    /** Answers with another status than the code's own, e.g. 503 {@code internal} while shutting down. */
    public static void send(ServerResponse res, int status, ErrorCode code, String message) {
        res.status(Status.create(status));
        res.header(HeaderValues.CONTENT_TYPE_JSON);
        res.send(code.body(message));
    }

    /**
     * The answer to a request refused before routing (a malformed request line, header or percent-encoding):
     * Helidon's status, the code for it, and the status's reason phrase as the message, never Helidon's text,
     * which may quote the request.
     */
    public static DirectHandler.TransportResponse beforeRouting(Status status, ServerResponseHeaders headers,
                                                                boolean keepAlive) {
        headers.set(HeaderValues.CONTENT_TYPE_JSON);
        return DirectHandler.TransportResponse.builder()
                .status(status)
                .headers(headers)
                .keepAlive(keepAlive)
                .entity(ErrorCode.forHttpStatus(status.code())
                                .body(status.reasonPhrase().toLowerCase(java.util.Locale.ROOT)))
                .build();
    }
}
