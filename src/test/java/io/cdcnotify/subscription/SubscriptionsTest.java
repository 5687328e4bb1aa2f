package io.cdcnotify.subscription;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

import io.cdcnotify.config.SubscriptionConfig;
import io.cdcnotify.hub.Hub;
import io.cdcnotify.hub.HubMetrics;
import io.cdcnotify.hub.Subscription;
import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.wire.ErrorCode;
import org.junit.jupiter.api.Test;

/**
 * Subscribe requests refused before any database work, and a stream's own subscription, which lives only in the
 * hub. Durable subscriptions are stored in PostgreSQL and tested there; here the store has no database at all,
 * so a test that reached it would fail.
 */
class SubscriptionsTest {

    private static final Predicate<List<String>> ANY = tables -> true;

    private final MutableClock clock = new MutableClock(Instant.parse("2026-11-25T12:00:00Z"));
    private final Hub hub = new Hub(new Hub.Limits(100, 100, 1L << 20), HubMetrics.NONE, clock);
    private final Subscriptions subscriptions = new Subscriptions(
            hub, null, null, null, new SubscriptionConfig(100, 1L << 20, Duration.ofSeconds(300)), 3, clock);

    // ---- open ----

    @Test
    void aStreamsOwnSubscriptionLivesInTheHub() {
        Opening o = open("k1", ANY, request(List.of("orders", "customers", "orders"), null, null, false));

        Opening.Ready ready = (Opening.Ready) o;
        assertThat(ready.created()).isTrue();
        assertThat(ready.backlog()).isEmpty();
        Subscription s = ready.subscription();
        assertThat(s.id()).matches("s-[0-9a-f]{16}");
        assertThat(s.tables()).as("duplicates removed, order kept").containsExactly("orders", "customers");
        assertThat(s.durable()).isFalse();
        assertThat(s.keyId()).isEqualTo("k1");
        assertThat(s.createdAt()).isEqualTo(clock.instant());
        assertThat(hub.subscription(s.id())).contains(s);
    }

    @Test
    void eachSubscriptionGetsItsOwnId() {
        Subscription a = subscriptions.create("k1", List.of("orders"));
        Subscription b = subscriptions.create("k1", List.of("orders"));
        assertThat(a.id()).isNotEqualTo(b.id());
        assertThat(hub.subscriptions()).containsExactlyInAnyOrder(a, b);
    }

    @Test
    void neitherTablesNorSubscriptionIdIsABadRequest() {
        assertRefused(open("k1", ANY, request(null, null, null, true)), ErrorCode.BAD_REQUEST);
        assertRefused(open("k1", ANY, request(null, null, null, false)), ErrorCode.BAD_REQUEST);
    }

    // invalid table names and strings that are not cursors never reach open(): its parser refuses them
    // (wire.ClientRequestTest, for the WebSocket message and the SSE query alike)

    @Test
    void tooManyTablesIsALimit() {
        List<String> tables = java.util.stream.IntStream.range(0, 11).mapToObj(i -> "t" + i).toList();
        assertRefused(subscriptions.open("k1", ANY, 10, request(tables, null, null, false)), ErrorCode.LIMIT_EXCEEDED);
        assertThat(subscriptions.open("k1", ANY, 10, request(tables.subList(0, 10), null, null, false)))
                .isInstanceOf(Opening.Ready.class);
    }

    @Test
    void tablesOutsideTheKeysScopeAreForbidden() {
        Predicate<List<String>> onlyOrders = tables -> tables.stream().allMatch("orders"::equals);
        assertRefused(open("k1", onlyOrders, request(List.of("orders", "salaries"), null, null, true)),
                      ErrorCode.FORBIDDEN);
        assertRefused(open("k1", onlyOrders, request(List.of("*"), null, null, false)), ErrorCode.FORBIDDEN);
        assertThat(hub.subscriptions()).isEmpty();
        assertThat(open("k1", onlyOrders, request(List.of("orders"), null, null, false)))
                .isInstanceOf(Opening.Ready.class);
    }

    // ---- helpers ----

    private Opening open(String key, Predicate<List<String>> mayRead, Opening.Request request) {
        return subscriptions.open(key, mayRead, 100, request);
    }

    private static Opening.Request request(List<String> tables, String subscriptionId, Cursor cursor, boolean durable) {
        return new Opening.Request(Optional.ofNullable(tables), Optional.ofNullable(subscriptionId),
                                   Optional.ofNullable(cursor), durable);
    }

    private static void assertRefused(Opening o, ErrorCode code) {
        assertThat(o).isInstanceOf(Opening.Refused.class);
        Opening.Refused r = (Opening.Refused) o;
        assertThat(r.code()).isEqualTo(code);
        assertThat(r.message()).isNotBlank();
    }

    /** A fixed clock. */
    static final class MutableClock extends Clock {
        private final Instant now;

        MutableClock(Instant start) {
            this.now = start;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
