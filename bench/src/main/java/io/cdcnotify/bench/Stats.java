package io.cdcnotify.bench;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * What the clients saw: per-client ids (for losses and duplicates), and per-transport latency histograms of
 * the events created inside the measured window.
 */
final class Stats {

    static final String WS = "websocket";
    static final String SSE = "sse";
    private static final long MAX_MICROS = 3_600_000_000L;

    /** Ids at or below this were in the outbox before the run; events with them are not counted. */
    volatile long baseId = Long.MAX_VALUE;
    /** The measured window, epoch micros; events created inside it are timed. */
    volatile long windowStart = Long.MAX_VALUE;
    volatile long windowEnd = Long.MAX_VALUE;

    /**
     * Per writer sequence number: when its transaction's commit returned to the writer, and when the first and
     * the last client received it (System.nanoTime). Tells the service's share of the latency (commit → client)
     * from PostgreSQL's (insert → commit: the doorbell's lock, the WAL flush).
     */
    final Timeline timeline;

    final Transport ws = new Transport(WS);
    final Transport sse = new Transport(SSE);
    final List<Receiver> receivers = new ArrayList<>();
    final CountDownLatch subscribed;
    final LongAdder errors = new LongAdder();
    final LongAdder closedEarly = new LongAdder();
    private final ConcurrentLinkedQueue<String> errorSamples = new ConcurrentLinkedQueue<>();
    private final AtomicLong sampled = new AtomicLong();

    Stats(int clients, int timelineCapacity) {
        subscribed = new CountDownLatch(clients);
        timeline = new Timeline(timelineCapacity);
    }

    Transport transport(String name) {
        return name.equals(WS) ? ws : sse;
    }

    Receiver newReceiver(String transport, int table, ClientFilter filter) {
        Receiver r = new Receiver(this, transport(transport), table, filter);
        synchronized (receivers) {
            receivers.add(r);
        }
        return r;
    }

    /** An unexpected message or failure: counted, and the first few kept for the report. */
    void error(String what) {
        errors.increment();
        if (sampled.incrementAndGet() <= 5) {
            errorSamples.add(what.length() > 300 ? what.substring(0, 300) : what);
        }
    }

    List<String> errorSamples() {
        return List.copyOf(errorSamples);
    }

    long delivered() {
        return ws.delivered.sum() + sse.delivered.sum();
    }

    /** Per transport: deliveries, and latency of the events created in the window. */
    static final class Transport {
        final String name;
        final LongAdder delivered = new LongAdder();
        final LongAdder deliveredInWindow = new LongAdder();
        final LongAdder duplicates = new LongAdder();
        /** receive time − created_at, microseconds. */
        final Recorder latency = new Recorder(1, MAX_MICROS, 3);
        /** receive time − the moment the writer meant to write the event: includes the writer falling behind. */
        final Recorder fromIntended = new Recorder(1, MAX_MICROS, 3);
        Histogram latencyResult;
        Histogram fromIntendedResult;

        Transport(String name) {
            this.name = name;
        }

        void close() {
            latencyResult = latency.getIntervalHistogram();
            fromIntendedResult = fromIntended.getIntervalHistogram();
        }
    }

    /** Commit and receive times by writer sequence number; sequence numbers past the capacity are not kept. */
    static final class Timeline {
        final java.util.concurrent.atomic.AtomicLongArray committed;
        final java.util.concurrent.atomic.AtomicLongArray first;
        final java.util.concurrent.atomic.AtomicLongArray last;

        Timeline(int capacity) {
            committed = new java.util.concurrent.atomic.AtomicLongArray(capacity);
            first = new java.util.concurrent.atomic.AtomicLongArray(capacity);
            last = new java.util.concurrent.atomic.AtomicLongArray(capacity);
        }

        void committed(long seq, long nanos) {
            if (seq < committed.length()) {
                committed.set((int) seq, nanos);
            }
        }

        void received(long seq, long nanos) {
            if (seq >= first.length()) {
                return;
            }
            int i = (int) seq;
            first.compareAndSet(i, 0, nanos);
            long l;
            while ((l = last.get(i)) < nanos && !last.compareAndSet(i, l, nanos)) {
                Thread.onSpinWait();
            }
        }
    }

    /** One client: its table, its filter (null: all of the table's events), and the ids it received. */
    static final class Receiver {
        final Stats stats;
        final Transport transport;
        final int table;
        final ClientFilter filter;
        /** Held from connect until subscribed or failed: {@code --connect-concurrency} clients in setup at once. */
        private java.util.concurrent.Semaphore gate;
        private final BitSet seen = new BitSet();
        private long delivered;
        private long foreign;
        private boolean subscribed;
        volatile boolean closed;

        Receiver(Stats stats, Transport transport, int table, ClientFilter filter) {
            this.stats = stats;
            this.transport = transport;
            this.table = table;
            this.filter = filter;
        }

        /** Whether this client should get an event with this customer and operation ({@link ClientFilter}). */
        boolean wants(int customer, int operation) {
            return filter == null || filter.wants(customer, operation);
        }

        synchronized void subscribed() {
            if (!subscribed) {
                subscribed = true;
                stats.subscribed.countDown();
            }
            release();
        }

        synchronized void hold(java.util.concurrent.Semaphore gate) {
            this.gate = gate;
        }

        /** Its setup is over (subscribed, refused or failed): lets the next client connect. */
        synchronized void release() {
            if (gate != null) {
                gate.release();
                gate = null;
            }
        }

        /** One received event. */
        synchronized void event(long id, long createdMicros, long intendedMicros, long seq) {
            long nowNanos = System.nanoTime();
            long now = Events.nanoToEpochMicros(nowNanos);
            long base = stats.baseId;
            if (id <= base || id - base > Integer.MAX_VALUE) {
                foreign++;
                return;
            }
            int bit = (int) (id - base);
            if (seen.get(bit)) {
                transport.duplicates.increment();
                return;
            }
            seen.set(bit);
            delivered++;
            if (seq >= 0) {
                stats.timeline.received(seq, nowNanos);
            }
            transport.delivered.increment();
            if (createdMicros >= stats.windowStart && createdMicros < stats.windowEnd) {
                transport.deliveredInWindow.increment();
                transport.latency.recordValue(Math.max(0, now - createdMicros));
                if (intendedMicros > 0) {
                    transport.fromIntended.recordValue(Math.max(0, now - intendedMicros));
                }
            }
        }

        synchronized boolean isSubscribed() {
            return subscribed;
        }

        synchronized boolean received(long id) {
            long bit = id - stats.baseId;
            return bit > 0 && bit <= Integer.MAX_VALUE && seen.get((int) bit);
        }

        synchronized long delivered() {
            return delivered;
        }

        synchronized long foreign() {
            return foreign;
        }
    }
}
