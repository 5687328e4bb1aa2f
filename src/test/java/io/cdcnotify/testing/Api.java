package io.cdcnotify.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** REST calls for tests. */
public final class Api {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private Api() {
    }

    /** A response: status and body. */
    public record Response(int status, String body, HttpResponse<String> raw) {
        public JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON: " + body, e);
            }
        }
    }

    public static Response send(String method, URI uri, String bearer, String body, String contentType) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                                             : HttpRequest.BodyPublishers.ofString(body));
        if (bearer != null) {
            b.header("Authorization", "Bearer " + bearer);
        }
        if (contentType != null) {
            b.header("Content-Type", contentType);
        }
        try {
            HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
            return new Response(r.statusCode(), r.body(), r);
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    public static Response get(URI uri, String bearer) {
        return send("GET", uri, bearer, null, null);
    }

    public static Response delete(URI uri, String bearer) {
        return send("DELETE", uri, bearer, null, null);
    }

    public static Response postJson(URI uri, String bearer, Object body) {
        try {
            return send("POST", uri, bearer, JSON.writeValueAsString(body), "application/json");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Makes a key with the admin key and returns its plaintext. */
    public static String createKey(CdcServer server, List<String> tables) {
        Response r = postJson(server.http("/v1/keys"), CdcServer.ADMIN_KEY, Map.of("name", "test", "tables", tables));
        if (r.status() != 201) {
            throw new AssertionError("key not created: " + r.status() + " " + r.body());
        }
        return r.json().get("key").asText();
    }
}
