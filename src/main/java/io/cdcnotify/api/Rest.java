package io.cdcnotify.api;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.auth.ApiKey;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.auth.Credentials;
import io.cdcnotify.wire.ErrorCode;
import io.cdcnotify.wire.HttpErrors;
import io.cdcnotify.wire.Json;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * What every REST resource shares: the key check (before any body is read), JSON bodies with a size limit, and
 * errors as {@code {"code","message"}}.
 */
final class Rest {

    private final ApiKeys keys;
    private final int maxBodyBytes;

    Rest(ApiKeys keys, int maxBodyBytes) {
        this.keys = keys;
        this.maxBodyBytes = maxBodyBytes;
    }

    /** The request's key, or a 401 already sent. */
    Optional<ApiKey> key(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = Credentials.bearer(req.headers()).flatMap(keys::authenticate);
        if (key.isEmpty()) {
            HttpErrors.send(res, ErrorCode.UNAUTHORIZED, "a valid API key is required in Authorization: Bearer");
        }
        return key;
    }

    /** The request's key if it is an admin key, or a 401 or 403 already sent. */
    Optional<ApiKey> admin(ServerRequest req, ServerResponse res) {
        Optional<ApiKey> key = key(req, res);
        if (key.isPresent() && !key.get().admin()) {
            HttpErrors.send(res, ErrorCode.FORBIDDEN, "an admin key is required");
            return Optional.empty();
        }
        return key;
    }

    /** The request's JSON object, or a 400 already sent. */
    Optional<JsonNode> body(ServerRequest req, ServerResponse res) {
        boolean json = req.headers().contentType()
                .map(t -> t.mediaType().type().equals("application") && t.mediaType().subtype().equals("json"))
                .orElse(false);
        if (!json) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, "Content-Type must be application/json");
            return Optional.empty();
        }
        byte[] bytes;
        try (InputStream in = req.content().inputStream()) {
            bytes = in.readNBytes(maxBodyBytes + 1);
        } catch (IOException | RuntimeException e) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, "the body could not be read");
            return Optional.empty();
        }
        if (bytes.length > maxBodyBytes) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, "the body is larger than " + maxBodyBytes + " bytes");
            return Optional.empty();
        }
        try {
            return Optional.of(object(bytes));
        } catch (BadField e) {
            HttpErrors.send(res, ErrorCode.BAD_REQUEST, e.getMessage());
            return Optional.empty();
        }
    }

    /** A body read as client input ({@link Json#readClientInput}): a JSON object, or why it is refused. */
    static JsonNode object(byte[] body) {
        JsonNode node;
        try {
            node = Json.readClientInput(body);
        } catch (Json.Malformed e) {
            throw new BadField("the body is not valid JSON");
        }
        if (node == null || !node.isObject()) {
            throw new BadField("the body must be a JSON object");
        }
        return node;
    }

    static void json(ServerResponse res, Status status, JsonNode body) {
        res.status(status);
        res.header(HeaderValues.CONTENT_TYPE_JSON);
        res.send(Json.write(body));
    }

    static void noContent(ServerResponse res) {
        res.status(Status.NO_CONTENT_204);
        res.header(HeaderNames.CONTENT_LENGTH, "0");
        res.send();
    }

    /** A field of a request body that is missing or of the wrong type. */
    static final class BadField extends RuntimeException {
        BadField(String message) {
            super(message, null, false, false);
        }
    }
}
