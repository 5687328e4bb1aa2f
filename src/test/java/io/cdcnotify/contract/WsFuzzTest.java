package io.cdcnotify.contract;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random and mutated frames against a live WebSocket: every answer is a valid reply or a contract error (or a
 * contract close), never a stack trace or silence, and a well-behaved client on the same server keeps receiving
 * its events throughout.
 */
class WsFuzzTest {

    /** jqwik runs no JUnit extensions: the database is made and dropped by the container hooks below. */
    static final TestDatabase DB = new TestDatabase();

    private static final Set<String> REPLIES = Set.of("subscribed", "unsubscribed", "pong", "error", "cdc_event");
    private static final Set<String> CODES = Set.of("unauthorized", "forbidden", "bad_request", "not_found",
                                                   "limit_exceeded", "resume_unavailable", "internal");
    private static final Set<Integer> CLOSES = Set.of(4400, 4429, 1009);
    private static final List<String> VALID = List.of(
            "{\"type\":\"ping\",\"request_id\":\"p\"}",
            "{\"type\":\"subscribe\",\"request_id\":\"s\",\"tables\":[\"fuzz\"]}",
            "{\"type\":\"subscribe\",\"request_id\":\"s\",\"tables\":[\"fuzz\"],\"filter\":{\"a\":{\"in\":[1,2]}}}",
            "{\"type\":\"unsubscribe\",\"request_id\":\"u\",\"subscription_id\":\"s-0000000000000000\"}",
            "{\"type\":\"subscribe\",\"request_id\":\"r\",\"tables\":[\"fuzz\"],\"resume_from\":\"AdkY6wMAxwMl9Q\"}");

    private static CdcServer server;
    private static WsTestClient bystander;
    private static Thread feeder;
    private static final AtomicBoolean feeding = new AtomicBoolean(true);
    private static final AtomicLong written = new AtomicLong();
    private static WsTestClient fuzzed;

    @BeforeContainer
    static void start() throws Exception {
        DB.create(WsFuzzTest.class);
        server = CdcServer.start(DB, Map.of("cdc.limits.max-messages-per-second", "100000",
                                            "cdc.limits.max-frame-bytes", "4096"));
        bystander = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY);
        bystander.subscribe("b", List.of("steady"));
        feeder = Thread.ofVirtual().start(() -> {
            while (feeding.get()) {
                try {
                    Outbox.insert(DB, "steady", "INSERT", "{\"n\":" + written.incrementAndGet() + "}");
                    Thread.sleep(20);
                } catch (Exception e) {
                    return;
                }
            }
        });
    }

    @AfterContainer
    static void stop() throws Exception {
        feeding.set(false);
        feeder.join(Duration.ofSeconds(10));
        // the bystander got every event, in order, while the fuzzing went on
        long total = written.get();
        List<JsonNode> events = bystander.events((int) total, Duration.ofSeconds(30));
        for (int i = 0; i < events.size(); i++) {
            assertThat(events.get(i).get("payload").get("n").asLong()).isEqualTo(i + 1);
        }
        bystander.close();
        if (fuzzed != null) {
            fuzzed.close();
        }
        server.close();
        DB.drop();
    }

    @Property(tries = 200)
    void everyFrameGetsAContractAnswer(@ForAll("frames") String frame) {
        WsTestClient ws = connection();
        ws.send(frame);
        // a ping after the frame: its pong (or the close) tells that the frame was fully handled
        String marker = "m" + System.nanoTime();
        AtomicReference<WsTestClient.Close> closed = new AtomicReference<>();
        try {
            ws.send("{\"type\":\"ping\",\"request_id\":\"" + marker + "\"}");
        } catch (RuntimeException sendFailed) {
            closed.set(ws.closed());
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (closed.get() == null) {
            Optional<JsonNode> next = ws.poll(Duration.ofMillis(50));
            if (next.isEmpty()) {
                if (ws.closeFuture().isDone()) {
                    closed.set(ws.closeFuture().join());
                } else {
                    assertThat(System.nanoTime()).as("no answer and no close for %s", frame).isLessThan(deadline);
                }
                continue;
            }
            JsonNode m = next.get();
            assertThat(m.get("v").asInt()).as("%s answered %s", frame, m).isEqualTo(1);
            assertThat(REPLIES).as("%s answered %s", frame, m).contains(m.get("type").asText());
            if ("error".equals(m.get("type").asText())) {
                assertThat(CODES).contains(m.get("code").asText());
                assertThat(m.get("message").asText()).doesNotContain("Exception").doesNotContain("\tat ");
            }
            if ("pong".equals(m.get("type").asText()) && marker.equals(m.path("request_id").asText())) {
                break;
            }
        }
        if (closed.get() != null) {
            assertThat(CLOSES).as("closed %s after %s", closed.get(), frame).contains(closed.get().code());
            fuzzed = null;
        }
    }

    private static WsTestClient connection() {
        if (fuzzed == null || fuzzed.closeFuture().isDone()) {
            fuzzed = WsTestClient.authenticated(server, CdcServer.ADMIN_KEY);
        }
        return fuzzed;
    }

    @Provide
    Arbitrary<String> frames() {
        // the JDK client refuses to send lone surrogates (not valid UTF-8): stay below them
        Arbitrary<String> random = Arbitraries.strings().withCharRange('\u0000', '\ud7ff').ofMaxLength(300);
        Arbitrary<String> jsonish = Arbitraries.strings().withChars("{}[]\":,.0123456789-+eEtrufalsn \\")
                .ofMaxLength(80);
        Arbitrary<String> mutated = Arbitraries.of(VALID).flatMap(v -> Arbitraries.integers().between(0, v.length() - 1)
                .flatMap(at -> Arbitraries.oneOf(
                        Arbitraries.chars().range('\u0000', '\ud7ff').map(c -> v.substring(0, at) + c + v.substring(at + 1)),
                        Arbitraries.just(v.substring(0, at)),
                        Arbitraries.just(v.substring(0, at) + v.substring(at + 1)),
                        Arbitraries.strings().withCharRange('\u0000', '\ud7ff').ofMaxLength(20)
                                .map(s -> v.substring(0, at) + s + v.substring(at)))));
        Arbitrary<String> typed = Arbitraries.of("auth", "subscribe", "unsubscribe", "ping", "PING", "", "cdc_event")
                .flatMap(t -> Arbitraries.of("\"x\"", "1", "null", "[]", "{}", "[\"fuzz\"]", "[\"bad name\"]", "true")
                        .map(v -> "{\"type\":\"" + t + "\",\"tables\":" + v + ",\"subscription_id\":" + v
                                + ",\"resume_from\":" + v + ",\"request_id\":" + v + "}"));
        Arbitrary<String> big = Arbitraries.integers().between(4000, 5000).map(n -> "{\"type\":\"ping\",\"x\":\"" + "y".repeat(n) + "\"}");
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(3, random), net.jqwik.api.Tuple.of(3, jsonish), net.jqwik.api.Tuple.of(5, mutated),
                net.jqwik.api.Tuple.of(3, typed), net.jqwik.api.Tuple.of(1, big), net.jqwik.api.Tuple.of(2, Arbitraries.of(VALID)));
    }

}
