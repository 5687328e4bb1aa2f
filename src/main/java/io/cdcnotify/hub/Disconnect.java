package io.cdcnotify.hub;

import java.util.Optional;

import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.Message;

/**
 * Why the server ends a connection: the WebSocket close code of the contract, and the error a client is told
 * first (an SSE stream ends after that error; it has no close code).
 *
 * @param code   the WebSocket close code
 * @param reason the close reason, at most 123 bytes
 * @param error  the error sent just before closing, if any
 */
public record Disconnect(int code, String reason, Optional<Message.Error> error) {

    /** The client went away: nothing to send. */
    public static final Disconnect GONE = new Disconnect(1000, "", Optional.empty());

    public static final Disconnect SHUTDOWN = new Disconnect(1001, "server shutting down", Optional.empty());

    /** Shutting down, with the cursor of the last event written as the close reason when there is one. */
    public static Disconnect shutdown(Optional<String> lastCursor) {
        return new Disconnect(1001, lastCursor.filter(c -> c.length() <= 123).orElse("server shutting down"),
                              Optional.empty());
    }

    public static Disconnect unauthorized(String message) {
        return new Disconnect(closeCode(ErrorCode.UNAUTHORIZED), "unauthorized", Optional.of(Message.Error.of(ErrorCode.UNAUTHORIZED, message)));
    }

    /** Not {@code unauthorized}'s own 4401: the contract tells a revoked key on an open connection apart. */
    public static Disconnect revoked(String message) {
        return new Disconnect(4403, "key revoked or expired",
                              Optional.of(Message.Error.of(ErrorCode.UNAUTHORIZED, message)));
    }

    public static Disconnect tooManyBadRequests() {
        return new Disconnect(closeCode(ErrorCode.BAD_REQUEST), "too many bad requests", Optional.empty());
    }

    /** A limit exceeded; {@code error} was (or is) sent on its own. */
    public static Disconnect limit(String reason) {
        return new Disconnect(closeCode(ErrorCode.LIMIT_EXCEEDED), reason, Optional.empty());
    }

    /** The subscription this stream carried was deleted (SSE only; WebSocket clients get {@code unsubscribed}). */
    public static Disconnect subscriptionGone(String subscriptionId) {
        return new Disconnect(1000, "subscription deleted", Optional.of(
                Message.Error.of(ErrorCode.NOT_FOUND, "subscription " + subscriptionId + " was deleted")));
    }

    /**
     * A slow consumer: the close reason is the cursor itself when there is one and it fits in a close frame's
     * 123 bytes, and empty otherwise (the error before the close always carries it, or null).
     */
    public static Disconnect slowConsumer(Optional<String> lastCursor) {
        String reason = lastCursor.filter(c -> c.length() <= 123).orElse("");
        Message.Error error = Message.Error.slowConsumer(
                "the client did not read its events fast enough; resume with the cursor", lastCursor);
        return new Disconnect(closeCode(ErrorCode.SLOW_CONSUMER), reason, Optional.of(error));
    }

    public static Disconnect internal() {
        return new Disconnect(closeCode(ErrorCode.INTERNAL), "internal error",
                              Optional.of(Message.Error.of(ErrorCode.INTERNAL, "internal error")));
    }

    private static int closeCode(ErrorCode code) {
        return code.closeCode().orElseThrow();
    }
}
