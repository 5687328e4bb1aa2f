package io.cdcnotify.hub;

import java.util.Locale;

import com.fasterxml.jackson.core.io.JsonStringEncoder;

/** The error codes of the contract, section 4, with the HTTP status each maps to before a stream opens. */
public enum ErrorCode {
    UNAUTHORIZED(401),
    FORBIDDEN(403),
    BAD_REQUEST(400),
    NOT_FOUND(404),
    LIMIT_EXCEEDED(429),
    RESUME_UNAVAILABLE(410),
    SLOW_CONSUMER(503),
    INTERNAL(500);

    private final int httpStatus;

    ErrorCode(int httpStatus) {
        this.httpStatus = httpStatus;
    }

    /** The code as it appears on the wire, e.g. {@code bad_request}. */
    public String wire() {
        return name().toLowerCase(Locale.ROOT);
    }

    public int httpStatus() {
        return httpStatus;
    }

    /** The JSON error body of REST and SSE: {@code {"code":"…","message":"…"}}. */
    public String body(String message) {
        StringBuilder json = new StringBuilder(32 + message.length()).append("{\"code\":\"").append(wire())
                .append("\",\"message\":\"");
        JsonStringEncoder.getInstance().quoteAsString(message, json);
        return json.append("\"}").toString();
    }
}
