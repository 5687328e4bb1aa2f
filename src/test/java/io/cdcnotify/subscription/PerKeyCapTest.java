package io.cdcnotify.subscription;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The per-key cap on durable subscriptions ({@code cdc.limits.max-subscriptions-per-key}) holds when many
 * requests arrive at once, over WebSocket and REST, on one instance or two: exactly the cap is created, every
 * other request gets {@code limit_exceeded}, and no connection is dropped.
 */
class PerKeyCapTest {

    private static final int CAP = 10;
    private static final int CLIENTS = 40;

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static CdcServer a;
    private static CdcServer b;

    @BeforeAll
    static void start() {
        Map<String, String> config = Map.of("cdc.limits.max-subscriptions-per-key", Integer.toString(CAP));
        a = CdcServer.start(DB, config);
        b = CdcServer.start(DB, config);
    }

    @AfterAll
    static void stop() {
        a.close();
        b.close();
    }

    @Test
    void fortyWebSocketsSubscribingAtOnceCreateExactlyTheCapAndTheRestGetLimitExceeded() throws Exception {
        String key = Api.createKey(a, List.of("capped"));
        List<WsTestClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < CLIENTS; i++) {
                clients.add(WsTestClient.authenticated(i % 2 == 0 ? a : b, key));
            }
            List<JsonNode> answers = inParallel(clients.size(), i -> {
                WsTestClient c = clients.get(i);
                c.send(Map.of("type", "subscribe", "request_id", "r" + i, "tables", List.of("capped")));
                return c.next(Duration.ofSeconds(20));
            });
            assertCapHeld(answers.stream().map(m -> m.get("type").asText()).toList(), "subscribed", "error");
            assertThat(answers).filteredOn(m -> m.get("type").asText().equals("error"))
                    .allSatisfy(m -> assertThat(m.get("code").asText()).isEqualTo("limit_exceeded"));
            assertThat(clients).as("no connection dropped (1006) or closed")
                    .noneMatch(c -> c.closeFuture().isDone());
            assertThat(Api.get(a.http("/v1/subscriptions"), key).json()).hasSize(CAP);
        } finally {
            clients.forEach(WsTestClient::close);
        }
    }

    @Test
    void fortyPostsAtOnceCreateExactlyTheCapAndTheRestGet429() throws Exception {
        String key = Api.createKey(a, List.of("capped"));
        List<Api.Response> answers = inParallel(CLIENTS, i -> Api.postJson((i % 2 == 0 ? a : b).http("/v1/subscriptions"),
                                                                          key, Map.of("tables", List.of("capped"))));
        assertCapHeld(answers.stream().map(r -> Integer.toString(r.status())).toList(), "201", "429");
        assertThat(answers).filteredOn(r -> r.status() == 429)
                .allSatisfy(r -> assertThat(r.json().get("code").asText()).isEqualTo("limit_exceeded"));
        assertThat(Api.get(b.http("/v1/subscriptions"), key).json()).hasSize(CAP);
        // a deleted one frees a place
        String first = answers.stream().filter(r -> r.status() == 201).findFirst().orElseThrow().json().get("id").asText();
        assertThat(Api.delete(a.http("/v1/subscriptions/" + first), key).status()).isEqualTo(204);
        assertThat(Api.postJson(b.http("/v1/subscriptions"), key, Map.of("tables", List.of("capped"))).status())
                .isEqualTo(201);
        assertThat(Api.postJson(a.http("/v1/subscriptions"), key, Map.of("tables", List.of("capped"))).status())
                .isEqualTo(429);
    }

    @Test
    void theCapIsPerKey() {
        String one = Api.createKey(a, List.of("capped"));
        String other = Api.createKey(a, List.of("capped"));
        for (int i = 0; i < CAP; i++) {
            assertThat(Api.postJson(a.http("/v1/subscriptions"), one, Map.of("tables", List.of("capped"))).status())
                    .isEqualTo(201);
        }
        assertThat(Api.postJson(a.http("/v1/subscriptions"), one, Map.of("tables", List.of("capped"))).status())
                .isEqualTo(429);
        assertThat(Api.postJson(a.http("/v1/subscriptions"), other, Map.of("tables", List.of("capped"))).status())
                .isEqualTo(201);
    }

    /**
     * The cap reads each key's number from {@code cdc.subscription_counts} (schema V6), kept by statement-level
     * triggers: it matches {@code count(*)} after multi-row, multi-key inserts and deletes made by hand, and after the
     * service's own creates and deletes.
     */
    @Test
    void theCountsFollowEveryInsertAndDelete() throws Exception {
        String key = Api.createKey(a, List.of("capped"));
        String first = Api.postJson(a.http("/v1/subscriptions"), key, Map.of("tables", List.of("capped"))).json()
                .get("id").asText();
        Api.postJson(b.http("/v1/subscriptions"), key, Map.of("tables", List.of("capped")));
        try (java.sql.Connection c = DB.connect(); java.sql.Statement st = c.createStatement()) {
            st.execute("INSERT INTO cdc.subscriptions (id, key_id, tables) "
                       + "SELECT 's-hand-' || k || '-' || g, 'hand-' || k, ARRAY['t'] "
                       + "FROM generate_series(1, 2) k, generate_series(1, 5) g");
            assertCountsMatch(st, 2);
            st.execute("DELETE FROM cdc.subscriptions WHERE id IN ('s-hand-1-1', 's-hand-1-2', 's-hand-2-5')");
            assertCountsMatch(st, 2);
            assertThat(Api.delete(a.http("/v1/subscriptions/" + first), key).status()).isEqualTo(204);
            assertCountsMatch(st, 2);
            st.execute("DELETE FROM cdc.subscriptions WHERE key_id LIKE 'hand-%'");
            assertCountsMatch(st, 0);
        }
    }

    /** Every key's count equals its rows; {@code hand} keys made by hand hold some. */
    private static void assertCountsMatch(java.sql.Statement st, int hand) throws java.sql.SQLException {
        try (java.sql.ResultSet rs = st.executeQuery(
                "SELECT count(*) FILTER (WHERE s.n IS DISTINCT FROM c.n), count(*) FILTER (WHERE key_id LIKE 'hand-%') "
                + "FROM (SELECT key_id, count(*) AS n FROM cdc.subscriptions GROUP BY key_id) s "
                + "FULL JOIN (SELECT key_id, n FROM cdc.subscription_counts WHERE n <> 0) c USING (key_id)")) {
            rs.next();
            assertThat(rs.getLong(1)).as("keys whose count differs from their rows").isZero();
            assertThat(rs.getLong(2)).as("keys made by hand that hold subscriptions").isEqualTo(hand);
        }
    }

    private static void assertCapHeld(List<String> outcomes, String created, String refused) {
        assertThat(outcomes).as("every request answered with %s or %s", created, refused)
                .allMatch(o -> o.equals(created) || o.equals(refused));
        assertThat(outcomes.stream().filter(created::equals).count()).as("created").isEqualTo(CAP);
        assertThat(outcomes.stream().filter(refused::equals).count()).as("refused").isEqualTo(CLIENTS - CAP);
    }

    /** Runs {@code n} tasks released together, and returns their results in order. */
    private static <T> List<T> inParallel(int n, Task<T> task) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        try (ExecutorService pool = Executors.newFixedThreadPool(n)) {
            List<Future<T>> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                futures.add(pool.submit(() -> {
                    go.await();
                    return task.run(index);
                }));
            }
            go.countDown();
            List<T> results = new ArrayList<>();
            for (Future<T> f : futures) {
                results.add(f.get(60, java.util.concurrent.TimeUnit.SECONDS));
            }
            return results;
        }
    }

    private interface Task<T> {
        T run(int index) throws Exception;
    }
}
