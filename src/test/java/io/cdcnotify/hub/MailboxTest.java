package io.cdcnotify.hub;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The on-demand consumer: never two at once, nothing lost, each producer's items in order. */
@Timeout(60)
class MailboxTest {

    @Test
    void onDemandConsumersRunOneAtATimeAndTakeEverythingInOrder() throws Exception {
        int producers = 4;
        int each = 100_000;
        Mailbox box = new Mailbox();
        long[] next = new long[producers]; // consumer state, handed from one consumer to the next
        AtomicBoolean busy = new AtomicBoolean();
        AtomicBoolean overlapped = new AtomicBoolean();
        ConcurrentLinkedQueue<String> outOfOrder = new ConcurrentLinkedQueue<>();
        AtomicInteger consumers = new AtomicInteger();
        CountDownLatch taken = new CountDownLatch(producers * each);
        Runnable consumer = () -> {
            consumers.incrementAndGet();
            Object item;
            while ((item = box.pollOrSleep()) != null) {
                if (!busy.compareAndSet(false, true)) {
                    overlapped.set(true);
                }
                long v = (Long) item;
                int p = (int) (v >>> 32);
                long seq = v & 0xFFFF_FFFFL;
                if (next[p] != seq) {
                    outOfOrder.add("producer " + p + ": " + seq + " where " + next[p] + " was due");
                }
                next[p] = seq + 1;
                busy.set(false);
                taken.countDown();
            }
        };
        box.consumeOnDemand(() -> Thread.ofVirtual().start(consumer));

        // in many short rounds: at the end of each the queue runs empty, and the consumer goes to sleep (its thread
        // ends) while the next round's items may already arrive. An item left behind by a consumer that went to
        // sleep without seeing it would wait for the next offer: each round's items must all be taken at once.
        int rounds = 20_000;
        int perRound = each / rounds;
        AtomicInteger roundsDone = new AtomicInteger();
        ConcurrentLinkedQueue<Integer> stranded = new ConcurrentLinkedQueue<>();
        CyclicBarrier roundDone = new CyclicBarrier(producers, () -> {
            int round = roundsDone.incrementAndGet();
            long offered = (long) producers * perRound * round;
            long total = (long) producers * each;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (total - taken.getCount() < offered) {
                if (System.nanoTime() > deadline) {
                    stranded.add(round);
                    break;
                }
                Thread.onSpinWait();
            }
        });
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            long producer = p;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    for (int r = 0; r < rounds; r++) {
                        for (long i = (long) r * perRound; i < (long) (r + 1) * perRound; i++) {
                            box.offer((producer << 32) | i);
                        }
                        roundDone.await(30, TimeUnit.SECONDS);
                    }
                } catch (Exception e) {
                    outOfOrder.add("producer " + producer + " failed: " + e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }

        assertThat(taken.await(30, TimeUnit.SECONDS)).as("every item taken").isTrue();
        assertThat(stranded).as("rounds whose last items waited for the next offer").isEmpty();
        assertThat(overlapped).as("two consumers at once").isFalse();
        assertThat(outOfOrder).isEmpty();
        assertThat(consumers.get()).as("consumers started: they slept in between").isGreaterThan(1);
        assertThat(box.poll()).isNull();
    }
}
