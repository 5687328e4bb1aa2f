package io.cdcnotify.hostile;

import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A legitimate transaction of 150 rows of 1 MiB each (contract section 2 allows payloads up to 1 MiB, and does
 * not bound a transaction): the service neither runs out of heap nor holds the whole transaction, a client that
 * reads normally gets all 150 events in order (if its budget cuts it as a slow consumer, the cursor it is handed
 * resumes it with nothing lost), and a client of another table is not held up.
 *
 * <p>Sizing: the service holds at most one page of the outbox in flight (bounded in bytes), each connection's
 * budget and the detached queues' budget, on top of what it holds idle; with the defaults that fits a 256 MiB
 * heap with room to spare, so this child gets {@value #HEAP} (the 128 MiB of {@link HostileClientsTest} leaves
 * too little room for a single 1 MiB event encoded for a transport beside a page in flight). The retained heap
 * must stay under half of it: it must never approach the 150 MiB the transaction weighs.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class LargeTransactionTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    static final String HEAP = "256m";
    static final int ROWS = 150;
    /** Just under the contract's 1 MiB ({@code octet_length(payload::text)}), with the JSON around it. */
    static final int PAD = 1_048_576 - 64;

    private static ChildService service;

    @BeforeAll
    static void start() {
        service = ChildService.start(DB, LargeTransactionTest.class, HEAP, Map.of());
    }

    @AfterAll
    static void stop() {
        if (service != null) {
            service.close();
        }
    }

    @Test
    void oneTransactionOf150RowsOf1MiBIsDeliveredWithinABoundedHeap() throws Exception {
        int mark = service.logMark();
        Bystander bystander = Bystander.start(service, DB, "small");
        HostileClientsTest.HeapWatch heap = new HostileClientsTest.HeapWatch(service);
        ChildService.Key key = service.createKey("big", List.of("big"));
        List<Integer> received = new ArrayList<>();
        try {
            WsTestClient reader = connect(key, null);
            try (Connection c = DB.connect(); Statement st = c.createStatement()) {
                c.setAutoCommit(false);
                st.execute("INSERT INTO cdc.outbox (table_name, operation, payload) SELECT 'big', 'INSERT', "
                                   + "jsonb_build_object('n', g, 'pad', repeat('x', " + PAD + "))"
                                   + " FROM generate_series(1, " + ROWS + ") g");
                c.commit();
            }
            int reconnects = 0;
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (received.size() < ROWS) {
                assertThat(System.nanoTime()).as("all %d events within 90 s (got %d)", ROWS, received.size())
                        .isLessThan(deadline);
                service.assertAlive();
                List<JsonNode> batch = reader.drain();
                if (batch.isEmpty()) {
                    assertThat(reader.closeFuture()).as("the reader's connection, with no slow_consumer error")
                            .isNotDone();
                    ChildService.pause(50);
                    continue;
                }
                for (JsonNode m : batch) {
                    String type = m.path("type").asText();
                    if ("cdc_event".equals(type)) {
                        received.add(m.path("event").path("payload").path("n").asInt());
                        continue;
                    }
                    // a slow consumer is handed its cursor: resuming from it must lose nothing
                    assertThat(type).as("a message other than an event: " + shorten(m)).isEqualTo("error");
                    assertThat(m.path("code").asText()).as(shorten(m)).isEqualTo("slow_consumer");
                    assertThat(reconnects++).as("slow-consumer reconnects").isLessThan(ROWS);
                    assertThat(reader.closed().code()).isEqualTo(4408);
                    reader.close();
                    reader = connect(key, m.path("cursor").isTextual() ? m.path("cursor").asText() : null);
                    break;
                }
            }
            reader.close();
            List<Integer> expected = new ArrayList<>();
            for (int n = 1; n <= ROWS; n++) {
                expected.add(n);
            }
            assertThat(received).as("events of the large transaction, in order").isEqualTo(expected);
            long held = heap.stop();
            service.assertHealthy();
            bystander.assertReceivedEverything();
            assertThat(held).as("heap retained (max %d MiB)", service.maxHeap() >> 20)
                    .isLessThan(service.maxHeap() / 2);
            service.assertNoStackTraceSince(mark);
        } finally {
            heap.stop();
            bystander.close();
        }
    }

    private static WsTestClient connect(ChildService.Key key, String resumeFrom) {
        WsTestClient client = WsTestClient.connect(service.ws("/v1/ws"),
                                                   Map.of("Authorization", "Bearer " + key.secret()));
        client.expect("auth_ok");
        Map<String, Object> subscribe = new HashMap<>(Map.of("type", "subscribe", "request_id", "big",
                                                             "tables", List.of("big")));
        if (resumeFrom != null) {
            subscribe.put("resume_from", resumeFrom);
        }
        client.send(subscribe);
        client.expect("subscribed");
        return client;
    }

    private static String shorten(JsonNode m) {
        String s = m.toString();
        return s.length() > 300 ? s.substring(0, 300) + "…" : s;
    }
}
