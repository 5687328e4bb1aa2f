package io.cdcnotify.wire;

import java.io.IOException;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.JsonRecyclerPools;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * The service's one Jackson {@link ObjectMapper}, and the one way it reads what a client sends.
 *
 * <p>{@link #MAPPER} writes every JSON body and message and reads what the service itself stored (event
 * payloads, stored filters): trusted input, read with Jackson's default limits. Its buffers come from one shared
 * pool rather than a thread-local one: with a virtual thread per connection, thread-local buffers would cost
 * every connection a set of its own.
 *
 * <p>Client input — a WebSocket message, a REST request body, the SSE {@code filter} parameter — is read only by
 * {@link #readClientInput}, with the same rules on every path:
 * <ul>
 *     <li>one JSON value and nothing after it: trailing tokens ({@code {"a":1} x}, {@code {}{}}) are malformed;</li>
 *     <li>nesting at most {@value #MAX_DEPTH} deep, strings at most {@value #MAX_STRING_LENGTH} characters,
 *     numbers at most {@value #MAX_NUMBER_LENGTH} digits, so that a hostile message stays cheap to refuse (the
 *     transports bound the whole message first: 64 KiB frames, the REST body limit, the URL length);</li>
 *     <li>a key given twice in one object: the last one counts, as in JavaScript's {@code JSON.parse}.</li>
 * </ul>
 */
public final class Json {

    /** Deepest nesting of objects and arrays a client may send. */
    public static final int MAX_DEPTH = 32;
    /** Longest string a client may send, in characters: a 64 KiB WebSocket frame's worth. */
    public static final int MAX_STRING_LENGTH = 70_000;
    /** Longest number a client may send, in characters. */
    public static final int MAX_NUMBER_LENGTH = 100;

    public static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .recyclerPool(JsonRecyclerPools.sharedConcurrentDequePool())
                    .build())
            .build();

    private static final JsonFactory CLIENT_INPUT = JsonFactory.builder()
            .recyclerPool(JsonRecyclerPools.sharedConcurrentDequePool())
            .streamReadConstraints(StreamReadConstraints.builder()
                                           .maxNestingDepth(MAX_DEPTH)
                                           .maxStringLength(MAX_STRING_LENGTH)
                                           .maxNumberLength(MAX_NUMBER_LENGTH)
                                           .build())
            .disable(StreamReadFeature.STRICT_DUPLICATE_DETECTION) // the last of a repeated key counts, as stated above
            .build();

    private Json() {
    }

    /** Why client input is not JSON the service reads. The message is safe to show: it never quotes the input. */
    public static final class Malformed extends Exception {
        Malformed() {
            super("malformed JSON", null, false, false);
        }
    }

    /** Reads one JSON value a client sent, by the rules above; null for empty input. */
    public static JsonNode readClientInput(String text) throws Malformed {
        try (JsonParser parser = CLIENT_INPUT.createParser(text)) {
            return readOne(parser);
        } catch (IOException | RuntimeException e) {
            throw new Malformed();
        }
    }

    /** Reads one JSON value a client sent, in UTF-8 (or the encoding JSON's first bytes show); null for none. */
    public static JsonNode readClientInput(byte[] bytes) throws Malformed {
        try (JsonParser parser = CLIENT_INPUT.createParser(bytes)) {
            return readOne(parser);
        } catch (IOException | RuntimeException e) {
            throw new Malformed();
        }
    }

    private static JsonNode readOne(JsonParser parser) throws IOException {
        JsonNode value = MAPPER.readTree(parser);
        if (parser.nextToken() != null) {
            throw new JsonProcessingException("trailing tokens after the JSON value") {
            };
        }
        return value;
    }

    /** One line of JSON. */
    public static String write(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a JSON tree that cannot be written", e);
        }
    }
}
