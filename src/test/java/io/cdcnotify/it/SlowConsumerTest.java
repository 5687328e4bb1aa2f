package io.cdcnotify.it;

import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** A client that stops reading is cut off with its cursor; nobody else waits for it, and nothing is lost. */
class SlowConsumerTest {

    // these clients pause, then read again: a long close grace keeps them from being cut as stuck meanwhile
    // (NonReadingClientsTest covers clients that never read again)
    private static final int BUFFER = 150;
    private static final int EVENTS = 400;

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer(Map.of("cdc.limits.client-buffer-events", Integer.toString(BUFFER),
                                                                    "cdc.limits.close-grace-ms", "120000")).withKey("feed");
    private static final TestDatabase DB = CDC.db();


    @Test
    void aSlowWebSocketGets4408WithItsCursorWhileOthersKeepReceiving() throws Exception {
        try (WsTestClient slow = CDC.ws();
             WsTestClient fast = CDC.ws();
             SseTestClient fastSse = CDC.sse("feed")) {
            slow.subscribe("s", List.of("feed"));
            fast.subscribe("f", List.of("feed"));
            slow.pause();
            List<Long> written = writeBigEvents();

            // the others get everything, while the slow one is still stuck
            assertThat(fast.events(EVENTS, Duration.ofSeconds(60))).extracting(e -> e.get("id").asLong())
                    .containsExactlyElementsOf(written);
            assertThat(fastSse.events(EVENTS, Duration.ofSeconds(60))).extracting(e -> e.json().get("id").asLong())
                    .containsExactlyElementsOf(written);

            slow.resume();
            List<JsonNode> got = new ArrayList<>();
            JsonNode m = slow.next(Duration.ofSeconds(30));
            while ("cdc_event".equals(m.path("type").asText())) {
                got.add(m.get("event"));
                m = slow.next(Duration.ofSeconds(30));
            }
            assertThat(m.get("type").asText()).isEqualTo("error");
            assertThat(m.get("code").asText()).isEqualTo("slow_consumer");
            assertThat(got).isNotEmpty().hasSizeLessThan(EVENTS);
            String cursor = got.getLast().get("cursor").asText();
            assertThat(m.get("cursor").asText()).isEqualTo(cursor);
            WsTestClient.Close close = slow.closed();
            assertThat(close.code()).isEqualTo(4408);
            assertThat(close.reason()).isEqualTo(cursor);

            // the cursor resumes the rest, nothing lost
            try (WsTestClient again = CDC.ws()) {
                again.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("feed"),
                                  "resume_from", cursor));
                again.expect("subscribed");
                List<Long> rest = again.events(EVENTS - got.size(), Duration.ofSeconds(60)).stream()
                        .map(e -> e.get("id").asLong()).toList();
                List<Long> all = new ArrayList<>(got.stream().map(e -> e.get("id").asLong()).toList());
                all.addAll(rest);
                assertThat(all).containsExactlyElementsOf(written);
            }
        }
    }

    @Test
    void aSlowSseStreamGetsSlowConsumerWithItsCursorAndEnds() throws Exception {
        try (SseTestClient slow = CDC.sse("feed");
             WsTestClient fast = CDC.ws()) {
            fast.subscribe("f", List.of("feed"));
            slow.pause();
            List<Long> written = writeBigEvents();
            assertThat(fast.events(EVENTS, Duration.ofSeconds(60))).extracting(e -> e.get("id").asLong())
                    .containsExactlyElementsOf(written);

            slow.resume();
            List<SseTestClient.Event> got = new ArrayList<>();
            SseTestClient.Event e = slow.next(Duration.ofSeconds(30));
            while ("cdc_event".equals(e.event()) || ":comment".equals(e.event())) {
                if ("cdc_event".equals(e.event())) {
                    got.add(e);
                }
                e = slow.next(Duration.ofSeconds(30));
            }
            assertThat(e.event()).isEqualTo("error");
            assertThat(e.json().get("code").asText()).isEqualTo("slow_consumer");
            assertThat(got).isNotEmpty().hasSizeLessThan(EVENTS);
            assertThat(e.json().get("cursor").asText()).isEqualTo(got.getLast().id());
            slow.awaitEnd(Duration.ofSeconds(10));
            assertThat(got).extracting(g -> g.json().get("id").asLong())
                    .containsExactlyElementsOf(written.subList(0, got.size()));
        }
    }

    /** Events big enough to fill the socket buffers of a client that does not read. */
    private static List<Long> writeBigEvents() throws Exception {
        String filler = "z".repeat(64 * 1024);
        List<Long> ids = new ArrayList<>();
        try (Connection c = DB.connect()) {
            for (int i = 0; i < EVENTS; i++) {
                ids.add(Outbox.insert(c, "feed", "INSERT", "{\"i\":" + i + ",\"filler\":\"" + filler + "\"}"));
            }
        }
        return ids;
    }
}
