package io.cdcnotify.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

/** Routes change in batches, yet the publisher always routes with every change made before it settled. */
class RoutesTest {

    private final Routes routes = new Routes();

    private static Subscription subscription(String id, String... tables) {
        return new Subscription(id, "k", List.of(tables), Instant.EPOCH, null, Optional.empty());
    }

    @Test
    void changesOfEveryKindArriveInOrderWithinAndAcrossBatches() {
        List<Subscription> many = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) {             // several batches' worth, the last one partial
            Subscription s = subscription("s" + i, "orders", i % 2 == 0 ? "items" : "users");
            many.add(s);
            routes.add(s);
        }
        Subscription all = subscription("all", Subscription.EVERY_TABLE);
        routes.add(all);
        routes.remove(many.get(0));
        routes.add(many.get(0));                      // removed and added again within one batch: there
        routes.remove(many.get(1));                   // removed: gone
        Subscription brief = subscription("brief", "orders");
        routes.add(brief);
        routes.remove(brief);                         // added and removed within one batch: never there
        routes.settle();
        assertThat(routes.of("orders")).hasSize(999).contains(many.get(0)).doesNotContain(many.get(1), brief)
                .doesNotHaveDuplicates();
        assertThat(routes.of("items")).hasSize(500);
        assertThat(routes.of("users")).hasSize(499);
        assertThat(routes.everyTable()).containsExactly(all);
        assertThat(routes.of("nobody")).isEmpty();
        many.forEach(routes::remove);
        routes.remove(all);
        routes.settle();
        assertThat(routes.of("orders")).isEmpty();
        assertThat(routes.everyTable()).isEmpty();
    }

    @Test
    void aSettleSeesEverySubscriptionAddedBeforeIt() throws Exception {
        int threads = 4;
        int each = 3_000;
        ConcurrentLinkedQueue<Subscription> added = new ConcurrentLinkedQueue<>();
        CountDownLatch done = new CountDownLatch(threads);
        for (int t = 0; t < threads; t++) {
            int thread = t;
            Thread.ofPlatform().start(() -> {
                for (int i = 0; i < each; i++) {
                    Subscription s = subscription(thread + "-" + i, "orders");
                    routes.add(s);
                    added.add(s);
                }
                done.countDown();
            });
        }
        AtomicReference<String> missed = new AtomicReference<>();
        AtomicBoolean finished = new AtomicBoolean();
        int rounds = 0;
        while (!finished.get() && missed.get() == null) {
            finished.set(done.getCount() == 0);
            List<Subscription> before = List.copyOf(added);   // each of these was added before the settle below
            routes.settle();
            Set<Subscription> routed = Set.copyOf(Arrays.asList(routes.of("orders")));
            before.stream().filter(s -> !routed.contains(s)).findFirst()
                    .ifPresent(s -> missed.set(s.id() + " in round " + routes.of("orders").length));
            rounds++;
        }
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(missed.get()).as("a subscription added before a settle but not routed (%d rounds)", rounds).isNull();
        assertThat(routes.of("orders")).hasSize(threads * each);
    }
}
