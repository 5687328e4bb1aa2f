package io.cdcnotify.it;

import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/** Events flow from the outbox to WebSocket and SSE clients: all of their tables, in order, nothing else. */
class PipelineTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer().withKey("orders", "customers");

    @Test
    void bothTransportsReceiveEveryEventOfTheirTablesInOrder() throws Exception {
        try (WsTestClient ws = CDC.ws();
             SseTestClient sse = CDC.sse("orders")) {
            String sid = ws.subscribe("r1", List.of("orders")).get("subscription_id").asText();
            List<Long> expected = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                expected.add(CDC.insert("orders", "INSERT", "{\"n\":" + i + "}"));
                CDC.insert("other_table", "INSERT", "{\"n\":" + i + "}");
                if (i % 10 == 0) {
                    CDC.insert("customers", "UPDATE", "{\"n\":" + i + "}");
                }
            }
            List<JsonNode> wsEvents = ws.events(50, Duration.ofSeconds(10));
            List<SseTestClient.Event> sseEvents = sse.events(50, Duration.ofSeconds(10));

            assertThat(wsEvents).extracting(e -> e.get("id").asLong()).containsExactlyElementsOf(expected);
            assertThat(wsEvents).allSatisfy(e -> assertThat(e.get("table").asText()).isEqualTo("orders"));
            assertThat(sseEvents).extracting(e -> e.json().get("id").asLong()).containsExactlyElementsOf(expected);
            assertThat(sseEvents).allSatisfy(e -> assertThat(e.id()).isEqualTo(e.json().get("cursor").asText()));

            // nothing else arrives: a marker on the subscribed table comes next
            long marker = CDC.insert("orders", "DELETE", "{}");
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(marker);
            assertThat(sse.events(1, Duration.ofSeconds(10)).getFirst().json().get("id").asLong()).isEqualTo(marker);
            assertThat(sid).startsWith("s-");
        }
    }

    @Test
    void aRolledBackTransactionProducesNothing() throws Exception {
        try (WsTestClient ws = CDC.ws()) {
            ws.subscribe("r1", List.of("orders"));
            try (Connection c = CDC.begin()) {
                Outbox.insert(c, "orders", "INSERT", "{\"rolled\":\"back\"}");
                c.rollback();
            }
            long after = CDC.insert("orders", "INSERT", "{\"committed\":true}");
            JsonNode first = ws.events(1, Duration.ofSeconds(10)).getFirst();
            assertThat(first.get("id").asLong()).isEqualTo(after);
            assertThat(first.get("payload").get("committed").asBoolean()).isTrue();
        }
    }
}
