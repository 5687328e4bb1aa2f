package io.cdcnotify.it;

import java.sql.Connection;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.Listener;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What makes delivery hard: big payloads, a LISTEN connection that dies, transactions that commit out of id
 * order, transactions that stay open, the seam between subscribing and the live stream.
 */
class DeliveryTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer().withKey("orders", "big");
    private static final TestDatabase DB = CDC.db();

    @Test
    void payloadsFarBeyondNotifyLimitArriveIntact() throws Exception {
        try (WsTestClient ws = CDC.ws();
             SseTestClient sse = CDC.sse("big")) {
            ws.subscribe("r1", List.of("big"));
            // jsonb renders {"data": "…"} with 12 characters around the string: the second fills the 1 MiB limit
            String small = "x".repeat(20 * 1024);
            String large = "é".repeat(10) + "y".repeat(1_048_576 - 12 - 20);
            CDC.insert("big", "INSERT", "{\"data\":\"" + small + "\"}");
            CDC.insert("big", "INSERT", "{\"data\":\"" + large + "\"}");

            List<JsonNode> wsEvents = ws.events(2, Duration.ofSeconds(20));
            List<SseTestClient.Event> sseEvents = sse.events(2, Duration.ofSeconds(20));
            assertThat(wsEvents.get(0).get("payload").get("data").asText()).isEqualTo(small);
            assertThat(wsEvents.get(1).get("payload").get("data").asText()).isEqualTo(large);
            assertThat(sseEvents.get(0).json().get("payload").get("data").asText()).isEqualTo(small);
            assertThat(sseEvents.get(1).json().get("payload").get("data").asText()).isEqualTo(large);
        }
    }

    @Test
    void killingTheListenerTwiceLosesAndRepeatsNothing() throws Exception {
        int total = 2_000;
        try (WsTestClient ws = CDC.ws()) {
            ws.subscribe("r1", List.of("orders"));
            List<Long> written = Collections.synchronizedList(new ArrayList<>());
            AtomicBoolean failed = new AtomicBoolean();
            Thread writer = Thread.ofVirtual().start(() -> {
                try (Connection c = DB.connect()) {
                    for (int i = 0; i < total; i++) {
                        written.add(Outbox.insert(c, "orders", "INSERT", "{\"n\":" + i + "}"));
                        if (i % 100 == 0) {
                            Thread.sleep(20); // let the kills land mid-stream
                        }
                    }
                } catch (Exception e) {
                    failed.set(true);
                }
            });
            for (int kill = 1; kill <= 2; kill++) {
                int threshold = kill * 600;
                await().atMost(Duration.ofSeconds(20)).until(() -> written.size() > threshold);
                int killed = Listener.kill(DB);
                // the contract: back within 1 s while the database is reachable (allow scheduling slack)
                await().atMost(Duration.ofSeconds(3))
                        .until(() -> Listener.pid(DB) != 0 && Listener.pid(DB) != killed);
            }
            writer.join(Duration.ofSeconds(60));
            assertThat(failed).isFalse();

            List<Long> received = ws.events(total, Duration.ofSeconds(30)).stream()
                    .map(e -> e.get("id").asLong()).toList();
            assertThat(received).containsExactlyElementsOf(List.copyOf(written));
            assertThat(ws.drain()).isEmpty();
        }
        JsonNode state = Api.get(CDC.server().http("/v1/state"), CDC.key()).json();
        assertThat(state.at("/listener/reconnects").asLong()).isGreaterThanOrEqualTo(2);
        assertThat(state.at("/listener/connected").asBoolean()).isTrue();
    }

    @Test
    void aLiveClientGetsARowThatCommitsAfterAHigherIdWasDelivered() throws Exception {
        try (WsTestClient ws = CDC.ws();
             Connection t1 = CDC.begin(); Connection t2 = CDC.begin()) {
            ws.subscribe("r1", List.of("orders"));
            long low = Outbox.insert(t1, "orders", "INSERT", "{\"t\":1}");
            long high = Outbox.insert(t2, "orders", "INSERT", "{\"t\":2}");
            assertThat(low).isLessThan(high);
            t2.commit();
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(high);
            t1.commit();
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(low);
        }
    }

    @Test
    void transactionsCommittingInReverseIdOrderWhileAwayAreBothDeliveredOnResume() throws Exception {
        String cursor;
        try (WsTestClient ws = CDC.ws()) {
            ws.subscribe("r1", List.of("orders"));
            CDC.insert("orders", "INSERT", "{\"before\":true}");
            cursor = ws.events(1, Duration.ofSeconds(10)).getFirst().get("cursor").asText();
        }
        long low;
        long high;
        try (Connection t1 = CDC.begin(); Connection t2 = CDC.begin()) {
            low = Outbox.insert(t1, "orders", "INSERT", "{\"t\":1}");
            high = Outbox.insert(t2, "orders", "INSERT", "{\"t\":2}");
            t2.commit();
            t1.commit();
        }
        try (WsTestClient ws = CDC.ws()) {
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "tables", List.of("orders"), "resume_from", cursor));
            ws.expect("subscribed");
            // concurrent transactions: either order is right, both must come
            assertThat(ws.events(2, Duration.ofSeconds(10))).extracting(e -> e.get("id").asLong())
                    .containsExactlyInAnyOrder(high, low);
        }
        try (SseTestClient sse = SseTestClient.open(CDC.server().http("/v1/events?tables=orders"),
                                                    Map.of("Authorization", "Bearer " + CDC.key(), "Last-Event-ID", cursor))) {
            sse.expect("subscribed");
            assertThat(sse.events(2, Duration.ofSeconds(10))).extracting(e -> e.json().get("id").asLong())
                    .containsExactlyInAnyOrder(high, low);
        }
    }

    @Test
    void aCursorDeliveredBeforeALowerIdCommitsStillResumesIt() throws Exception {
        String cursorOfHigh;
        long low;
        try (Connection t1 = CDC.begin()) {
            low = Outbox.insert(t1, "orders", "INSERT", "{\"late\":true}");
            try (WsTestClient ws = CDC.ws()) {
                ws.subscribe("r1", List.of("orders"));
                long high = CDC.insert("orders", "INSERT", "{\"early\":true}");
                JsonNode e = ws.events(1, Duration.ofSeconds(10)).getFirst();
                assertThat(e.get("id").asLong()).isEqualTo(high);
                cursorOfHigh = e.get("cursor").asText();
            }
            t1.commit();
        }
        try (WsTestClient ws = CDC.ws()) {
            ws.send(Map.of("type", "subscribe", "request_id", "r2", "tables", List.of("orders"),
                           "resume_from", cursorOfHigh));
            ws.expect("subscribed");
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(low);
        }
    }

    @Test
    void anOpenTransactionElsewhereDoesNotHoldBackOthers() throws Exception {
        try (WsTestClient ws = CDC.ws();
             Connection open = CDC.begin()) {
            ws.subscribe("r1", List.of("orders"));
            long pending = Outbox.insert(open, "orders", "INSERT", "{\"open\":true}");
            long later = CDC.insert("orders", "INSERT", "{\"committed\":true}");
            // the contract's bound is 500 ms; allow slack for a loaded CI machine, but far below "until it commits"
            assertThat(ws.events(1, Duration.ofSeconds(2)).getFirst().get("id").asLong()).isEqualTo(later);
            open.commit();
            assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(pending);
        }
    }

    @Test
    void anEventCommittedRightAfterSubscribedReachesTheClient() throws Exception {
        for (int round = 0; round < 30; round++) {
            try (WsTestClient ws = CDC.ws()) {
                ws.subscribe("r" + round, List.of("orders"));
                long id = CDC.insert("orders", "INSERT", "{\"round\":" + round + "}");
                assertThat(ws.events(1, Duration.ofSeconds(10)).getFirst().get("id").asLong()).isEqualTo(id);
            }
            try (SseTestClient sse = CDC.sse("orders")) {
                long id = CDC.insert("orders", "INSERT", "{\"round\":" + round + "}");
                assertThat(sse.events(1, Duration.ofSeconds(10)).getFirst().json().get("id").asLong()).isEqualTo(id);
            }
        }
    }

    @Test
    void aResumeFromEveryCursorOfAStreamLosesNothing() throws Exception {
        List<JsonNode> all;
        try (WsTestClient ws = CDC.ws()) {
            ws.subscribe("r1", List.of("orders"));
            for (int i = 0; i < 20; i++) {
                CDC.insert("orders", "INSERT", "{\"i\":" + i + "}");
            }
            all = ws.events(20, Duration.ofSeconds(10));
        }
        for (int i = 0; i < all.size(); i += 4) {
            try (WsTestClient ws = CDC.ws()) {
                ws.send(Map.of("type", "subscribe", "request_id", "r", "tables", List.of("orders"),
                               "resume_from", all.get(i).get("cursor").asText()));
                ws.expect("subscribed");
                Set<Long> rest = new HashSet<>();
                for (JsonNode e : ws.events(all.size() - 1 - i, Duration.ofSeconds(10))) {
                    rest.add(e.get("id").asLong());
                }
                assertThat(rest).containsExactlyInAnyOrderElementsOf(
                        all.subList(i + 1, all.size()).stream().map(e -> e.get("id").asLong()).toList());
            }
        }
    }
}
