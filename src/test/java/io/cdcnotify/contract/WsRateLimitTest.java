package io.cdcnotify.contract;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static io.cdcnotify.contract.Contract.assertWsError;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 4, the message rate limit ({@code cdc.limits.max-messages-per-second}, here 5): past it
 * {@code limit_exceeded}; over it in each of 5 consecutive seconds close 4429, never sooner than 5 s after the
 * first {@code limit_exceeded}; invalid frames are still {@code bad_request}, and a flood of them ends in 4400.
 */
class WsRateLimitTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final int PER_SECOND = 5;

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB, Map.of("cdc.limits.max-messages-per-second", Integer.toString(PER_SECOND)));
        key = Contract.key(server, List.of("orders"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void messagesPastTheRateLimitGetLimitExceededWithTheirRequestId() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            int sent = 12;
            for (int i = 0; i < sent; i++) {
                ws.send(Map.of("type", "ping", "request_id", "p" + i));
            }
            List<JsonNode> answers = new ArrayList<>();
            for (int i = 0; i < sent; i++) {
                answers.add(ws.next());
            }
            for (int i = 0; i < sent; i++) {
                assertThat(answers.get(i).path("request_id").asText()).as("answer %d", i).isEqualTo("p" + i);
            }
            // the first 5 fit whichever second they fall in; a burst of 12 spans at most two seconds
            assertThat(answers.subList(0, PER_SECOND)).allSatisfy(a -> assertThat(a.path("type").asText()).isEqualTo("pong"));
            List<JsonNode> limited = answers.stream().filter(a -> "error".equals(a.path("type").asText())).toList();
            assertThat(limited).hasSizeGreaterThanOrEqualTo(sent - 2 * PER_SECOND);
            limited.forEach(a -> assertWsError(a, "limit_exceeded", a.path("request_id").asText()));
            assertThat(answers).allSatisfy(a -> assertThat(a.path("type").asText()).isIn("pong", "error"));
            assertThat(ws.closeFuture()).isNotDone();
        }
    }

    @Test
    void framesThatAreNoValidRequestAreStillAnsweredBadRequestPastTheRateLimit() {
        assertBadRequestsPastTheLimit(List.of(
                "{\"type\":\"ping\",\"request_id\":\"x0\"",
                "{\"type\":\"publish\",\"request_id\":\"x1\"}",
                "{\"type\":\"subscribe\",\"request_id\":\"x2\",\"tables\":\"orders\"}",
                "{\"type\":\"unsubscribe\",\"request_id\":\"x3\"}",
                "{\"type\":\"subscribe\",\"request_id\":\"x4\"}"));
    }

    @Test
    void requestsWithInvalidValuesAreStillAnsweredBadRequestPastTheRateLimit() {
        // an empty tables list, an invalid table name and a string that is not a cursor are bad_request
        // "on every path" (sections 3, 4, 6): the rate limit does not turn them into limit_exceeded
        assertBadRequestsPastTheLimit(List.of(
                "{\"type\":\"ping\",\"request_id\":\"x0\"",
                "{\"type\":\"subscribe\",\"request_id\":\"x1\",\"tables\":[]}",
                "{\"type\":\"subscribe\",\"request_id\":\"x2\",\"tables\":[\"bad name\"]}",
                "{\"type\":\"subscribe\",\"request_id\":\"x3\",\"tables\":[\"orders\"],\"resume_from\":\"nope\"}"));
    }

    /**
     * Sends more pings than the limit, then the frames (the first malformed, so answered without a request_id,
     * the others with request_id x1, x2…), then a ping: the pings before and after prove the frames came while
     * the limit applied. A burst that happens to straddle a second is tried again.
     */
    private static void assertBadRequestsPastTheLimit(List<String> invalid) {
        for (int attempt = 0; ; attempt++) {
            try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
                for (int i = 0; i < PER_SECOND + 1; i++) {
                    ws.send(Map.of("type", "ping", "request_id", "before" + i));
                }
                invalid.forEach(ws::send);
                ws.send(Map.of("type", "ping", "request_id", "after"));
                List<JsonNode> pings = new ArrayList<>();
                for (int i = 0; i < PER_SECOND + 1; i++) {
                    pings.add(ws.next());
                }
                List<JsonNode> answers = new ArrayList<>();
                for (int i = 0; i < invalid.size(); i++) {
                    answers.add(ws.next());
                }
                JsonNode after = ws.next();
                boolean limitedAround = "error".equals(pings.getLast().path("type").asText())
                        && "error".equals(after.path("type").asText());
                if (limitedAround) {
                    assertWsError(pings.getLast(), "limit_exceeded", "before" + PER_SECOND);
                    assertWsError(after, "limit_exceeded", "after");
                    for (int i = 0; i < invalid.size(); i++) {
                        assertWsError(answers.get(i), "bad_request", i == 0 ? null : "x" + i);
                    }
                    return;
                }
                assertThat(attempt).as("the burst kept straddling a second").isLessThan(3);
            }
        }
    }

    @Test
    void aFloodOfInvalidFramesEndsWithClose4400EvenPastTheRateLimit() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            for (int i = 0; i < 20; i++) {
                ws.send(Map.of("type", "nonsense", "request_id", "b" + i));
            }
            for (int i = 0; i < 20; i++) {
                assertWsError(ws.next(), "bad_request", "b" + i);
            }
            assertThat(ws.closed().code()).isEqualTo(4400);
        }
    }

    @Test
    void overTheLimitInEachOfFiveConsecutiveSecondsClosesWith4429NeverSoonerThanFiveSecondsAfterTheFirstLimitExceeded() {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            AtomicLong closedAt = new AtomicLong();
            ws.closeFuture().thenRun(() -> closedAt.set(System.nanoTime()));
            Thread flood = flood(ws, Duration.ofSeconds(12), Duration.ofMillis(40));
            long firstLimited = 0;
            JsonNode lastError = null;
            long deadline = System.nanoTime() + Duration.ofSeconds(14).toNanos();
            while (!ws.closeFuture().isDone() && System.nanoTime() < deadline) {
                Optional<JsonNode> next = ws.poll(Duration.ofMillis(200));
                if (next.isEmpty()) {
                    continue;
                }
                JsonNode m = next.get();
                if ("error".equals(m.path("type").asText())) {
                    if (firstLimited == 0) {
                        firstLimited = System.nanoTime();
                    }
                    lastError = m;
                }
            }
            flood.interrupt();
            WsTestClient.Close close = ws.closed();
            assertThat(close.code()).isEqualTo(4429);
            assertThat(firstLimited).as("a limit_exceeded came first").isNotZero();
            List<JsonNode> rest = ws.drain();
            JsonNode finalError = rest.stream().filter(m -> "error".equals(m.path("type").asText()))
                    .reduce((a, b) -> b).orElse(lastError);
            assertWsError(finalError, "limit_exceeded", finalError.path("request_id").asText());
            long gapMillis = (closedAt.get() - firstLimited) / 1_000_000;
            // the client sees both a little after the server sent them; 100 ms covers that on loopback
            assertThat(gapMillis).as("ms from the first limit_exceeded to the close")
                    .isGreaterThanOrEqualTo(5_000 - 100)
                    .isLessThanOrEqualTo(7_000);
        }
    }

    @Test
    void overTheLimitInFewerThanFiveConsecutiveSecondsDoesNotClose() throws Exception {
        try (WsTestClient ws = WsTestClient.authenticated(server, key)) {
            flood(ws, Duration.ofMillis(2500), Duration.ofMillis(20)).join();
            Thread.sleep(2100); // a whole quiet second ends the streak
            ws.drain();
            ws.send(Map.of("type", "ping", "request_id", "quiet"));
            assertThat(ws.until(m -> "quiet".equals(m.path("request_id").asText()), Contract.WAIT).path("type").asText())
                    .isEqualTo("pong");
            flood(ws, Duration.ofMillis(2500), Duration.ofMillis(20)).join();
            Thread.sleep(1100);
            ws.drain();
            ws.send(Map.of("type", "ping", "request_id", "still-open"));
            assertThat(ws.until(m -> "still-open".equals(m.path("request_id").asText()), Contract.WAIT)
                               .path("type").asText()).isEqualTo("pong");
            assertThat(ws.closeFuture()).isNotDone();
        }
    }

    /** Sends pings every {@code every} for {@code length}, or until the connection closes. */
    private static Thread flood(WsTestClient ws, Duration length, Duration every) {
        return Thread.ofVirtual().name("flood").start(() -> {
            long end = System.nanoTime() + length.toNanos();
            int n = 0;
            while (System.nanoTime() < end && !ws.closeFuture().isDone()) {
                try {
                    ws.send(Map.of("type", "ping", "request_id", "f" + n++));
                    Thread.sleep(every);
                } catch (RuntimeException e) {
                    return;
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }
}
