package io.cdcnotify.wire;

import java.util.Locale;
import java.util.OptionalInt;

import com.fasterxml.jackson.core.io.JsonStringEncoder;

/**
 * The error catalogue of the contract (sections 4 to 6): each code with the HTTP status it answers a request
 * with, and the WebSocket close code of a connection it ends.
 *
 * <pre>
 * code                 HTTP  close
 * unauthorized         401   4401  (a revoked or expired key on an open connection: 4403, see hub.Disconnect)
 * forbidden            403   -     (answers a request; the connection stays open)
 * bad_request          400   4400  (the 20th within 10 s)
 * not_found            404   -
 * limit_exceeded       429   4429  (the connection limit, or 5 s over the message rate)
 * resume_unavailable   410   -
 * slow_consumer        503   4408
 * internal             500   1011
 * </pre>
 */
public enum ErrorCode {
    UNAUTHORIZED(401, 4401),
    FORBIDDEN(403, 0),
    BAD_REQUEST(400, 4400),
    NOT_FOUND(404, 0),
    LIMIT_EXCEEDED(429, 4429),
    RESUME_UNAVAILABLE(410, 0),
    SLOW_CONSUMER(503, 4408),
    INTERNAL(500, 1011);

    private final int httpStatus;
    private final int closeCode;

    ErrorCode(int httpStatus, int closeCode) {
        this.httpStatus = httpStatus;
        this.closeCode = closeCode;
    }

    /** The code as it appears on the wire, e.g. {@code bad_request}. */
    public String wire() {
        return name().toLowerCase(Locale.ROOT);
    }

    public int httpStatus() {
        return httpStatus;
    }

    /** The close code of a WebSocket this error ends; empty for errors that only answer a request. */
    public OptionalInt closeCode() {
        return closeCode == 0 ? OptionalInt.empty() : OptionalInt.of(closeCode);
    }

    /**
     * The code for an HTTP error the service did not raise itself (Helidon's: no such route, a malformed request,
     * a body too large): the code of that status if it has one, {@code internal} for a 5xx, else
     * {@code bad_request}.
     */
    public static ErrorCode forHttpStatus(int status) {
        if (status >= 500) {
            return INTERNAL;
        }
        for (ErrorCode code : values()) {
            if (code.httpStatus == status) {
                return code;
            }
        }
        return BAD_REQUEST;
    }

    /** The JSON error body of REST and SSE: {@code {"code":"…","message":"…"}}. */
    public String body(String message) {
        StringBuilder json = new StringBuilder(32 + message.length()).append("{\"code\":\"").append(wire())
                .append("\",\"message\":\"");
        JsonStringEncoder.getInstance().quoteAsString(message, json);
        return json.append("\"}").toString();
    }
}
