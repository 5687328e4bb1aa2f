package io.cdcnotify.fanout;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import io.cdcnotify.outbox.Cursor;
import io.cdcnotify.outbox.OutboxEvent;
import org.junit.jupiter.api.Test;

/**
 * The leader feeds its own hub with what the stream acknowledged, beside the stream's consumer: by stream
 * sequence, whichever path brings an event first feeds it and the other drops it, so the hub sees each event
 * once and in stream order.
 */
class LeaderFeedTest {

    private final List<Long> fed = new ArrayList<>();
    private final AtomicInteger gaps = new AtomicInteger();
    private final StreamConsumer consumer = new StreamConsumer(null, "S", new Subjects("cdc.events"),
                                                               events -> events.forEach(e -> fed.add(e.id())),
                                                               gaps::incrementAndGet, Clock.systemUTC());

    // a consumer that was never started stands after sequence 0, as one started on an empty stream does

    @Test
    void overlappingHandOversFeedEachSequenceOnceInOrder() {
        consumer.fedByLeader(1, List.of(event(11), event(12), event(13)));
        consumer.fedByLeader(3, List.of(event(13), event(14)));   // 3 was fed: only 4 is new
        consumer.fedByLeader(1, List.of(event(11), event(12)));   // all fed already
        consumer.fedByLeader(5, List.of(event(15)));
        assertThat(fed).containsExactly(11L, 12L, 13L, 14L, 15L);
        assertThat(consumer.lastSequence()).isEqualTo(5);
        assertThat(consumer.lastEventId()).isEqualTo(15);
        assertThat(gaps).hasValue(0);
    }

    @Test
    void aSequenceJumpIsAGapAndAnEventIdSeenBeforeNeverReachesTheHub() {
        consumer.fedByLeader(1, List.of(event(11)));
        consumer.fedByLeader(3, List.of(event(13)));              // 2 is missing
        assertThat(gaps).hasValue(1);
        consumer.fedByLeader(4, List.of(event(11), event(14)));   // 11 again under a new sequence
        assertThat(fed).containsExactly(11L, 13L, 14L);
        assertThat(consumer.lastSequence()).isEqualTo(5);
    }

    private static OutboxEvent event(long id) {
        return new OutboxEvent(id, 1000 + id, "orders", "INSERT", "{}", 1_700_000_000_000_000L, new Cursor(1000 + id, id, new long[0]));
    }
}
