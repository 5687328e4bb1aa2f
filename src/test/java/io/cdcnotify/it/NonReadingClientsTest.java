package io.cdcnotify.it;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.RawWsClient;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Clients that never read, over plain sockets with small receive buffers, against the byte budgets (here
 * {@code cdc.limits.client-buffer-bytes} at its default of 8 MiB, the event count out of the way): each is cut within seconds
 * although its writer is stuck in a write, what it held is given back, and a reading client on the same table
 * gets every event in order meanwhile.
 */
class NonReadingClientsTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer(Map.of("cdc.limits.client-buffer-events", "1000000"));
    private static final TestDatabase DB = CDC.db();

    /** A slow consumer stuck in a write is cut 5 close graces (10 s) after it became slow; then a tick. */
    private static final Duration CUT_WITHIN = Duration.ofSeconds(30);
    private static final byte[] PING = "{\"type\":\"ping\",\"request_id\":\"p\"}".getBytes(StandardCharsets.UTF_8);
    private static final Pattern BUFFERED = Pattern.compile("(?m)^cdc_buffered_bytes(?:\\{[^}]*})? (\\S+)$");

    @Test
    void aWebSocketThatNeverReadsWhile100KbEventsPourInIsCutAndGivesBackWhatItHeld() throws Exception {
        String key = Api.createKey(CDC.server(), List.of("big_ws"));
        int before = connections("websocket");
        try (RawWsClient stuck = RawWsClient.stuck(CDC.server(), key, 4096);
             WsTestClient reader = WsTestClient.authenticated(CDC.server(), key)) {
            stuck.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("big_ws")));
            reader.subscribe("f", List.of("big_ws"));
            await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("websocket")).isEqualTo(before + 2));

            Delivered d = writeAlongside(reader, "big_ws", 400, 100 * 1024);
            assertThat(d.received()).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(d.written());
            await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("websocket")).isEqualTo(before + 1));
            assertThat(stuck.closedByServer(Duration.ofSeconds(30))).isTrue();
        }
        // a WebSocket subscribe is durable: what came after its clients left (if anything did) waits for them,
        // counted, until the subscriptions are deleted
        for (var s : Api.get(CDC.server().http("/v1/subscriptions"), key).json()) {
            assertThat(Api.delete(CDC.server().http("/v1/subscriptions/" + s.get("id").asText()), key).status()).isEqualTo(204);
        }
        await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(buffered()).isZero());
    }

    @Test
    void anSseStreamThatNeverReadsWhile100KbEventsPourInIsCutAndGivesBackWhatItHeld() throws Exception {
        String key = Api.createKey(CDC.server(), List.of("big_sse"));
        int before = connections("sse");
        try (SseTestClient stuck = SseTestClient.stuck(CDC.server(), "/v1/events?tables=big_sse", key, 4096);
             WsTestClient reader = WsTestClient.authenticated(CDC.server(), key)) {
            reader.subscribe("f", List.of("big_sse"));
            await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("sse")).isEqualTo(before + 1));

            Delivered d = writeAlongside(reader, "big_sse", 400, 100 * 1024);
            assertThat(d.received()).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(d.written());
            await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("sse")).isEqualTo(before));
            assertThat(stuck.closedByServer(Duration.ofSeconds(30))).isTrue();
        }
        await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(buffered()).isZero());
    }

    @Test
    void aFloodOfPingFramesFromAPeerThatNeverReadsHoldsOnePong() throws Exception {
        String key = Api.createKey(CDC.server(), List.of("quiet"));
        int before = connections("websocket");
        try (RawWsClient stuck = RawWsClient.stuck(CDC.server(), key, 4096)) {
            await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("websocket")).isEqualTo(before + 1));
            byte[] payload = new byte[125];
            long maxBuffered = 0;
            for (int i = 0; i < 200_000; i++) {
                stuck.ping(payload);
                if (i % 20_000 == 0) {
                    maxBuffered = Math.max(maxBuffered, buffered());
                }
            }
            maxBuffered = Math.max(maxBuffered, buffered());
            assertThat(maxBuffered).as("200,000 pings, 25 MB of pongs unread: the service holds one pong")
                    .isLessThan(4_096);
            assertThat(connections("websocket")).as("pings are no offence").isEqualTo(before + 1);
        }
        await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("websocket")).isEqualTo(before));
    }

    @Test
    void aFloodOfJsonPingsFromAPeerThatNeverReadsIsCut() throws Exception {
        String key = Api.createKey(CDC.server(), List.of("quiet"));
        int before = connections("websocket");
        try (RawWsClient stuck = RawWsClient.stuck(CDC.server(), key, 4096)) {
            await().atMost(CUT_WITHIN).untilAsserted(() -> assertThat(connections("websocket")).isEqualTo(before + 1));
            RawWsClient.Flood flood = stuck.flood(RawWsClient.encode(true, 0, RawWsClient.TEXT, PING),
                                                  Duration.ofSeconds(90));
            // 4429 after 5 s over the limit, then the replies queued before it fill the socket, then the grace
            await().atMost(Duration.ofSeconds(60)).until(() -> connections("websocket") == before);
            flood.stop();
            assertThat(buffered()).as("what it held was given back").isLessThan(64 * 1024);
        }
    }

    /** What was committed, and what the well-behaved reader received meanwhile. */
    private record Delivered(List<Long> written, List<JsonNode> received) {
    }

    /** Events the well-behaved reader may be behind by: 2 MB, well inside its 8 MiB buffer. */
    private static final int AHEAD = 20;

    /**
     * Commits {@code count} events of about {@code bytes} each, one per transaction, {@link #AHEAD} at a time, each
     * group once the reader has the one before: the stuck client takes all of them unread, while the reader, on a
     * slow machine too (the CI's coverage agent), is never a slow consumer itself (it was cut as one, 1 run in 4).
     */
    private static Delivered writeAlongside(WsTestClient reader, String table, int count, int bytes) throws Exception {
        String filler = "z".repeat(bytes);
        List<Long> ids = new ArrayList<>();
        List<JsonNode> received = new ArrayList<>();
        try (Connection c = DB.connect()) {
            for (int i = 0; i < count; i++) {
                ids.add(Outbox.insert(c, table, "INSERT", "{\"i\":" + i + ",\"filler\":\"" + filler + "\"}"));
                if (ids.size() - received.size() >= AHEAD || i == count - 1) {
                    received.addAll(reader.events(ids.size() - received.size(), Duration.ofSeconds(60)));
                }
            }
        }
        return new Delivered(ids, received);
    }

    private static int connections(String transport) {
        return Api.get(CDC.server().http("/v1/state"), CdcServer.ADMIN_KEY).json().get("connections").get(transport).asInt();
    }

    private static long buffered() {
        Matcher m = BUFFERED.matcher(Api.get(CDC.server().http("/metrics"), CdcServer.ADMIN_KEY).body());
        assertThat(m.find()).as("cdc_buffered_bytes in /metrics").isTrue();
        return (long) Double.parseDouble(m.group(1));
    }
}
