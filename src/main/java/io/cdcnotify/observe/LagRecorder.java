package io.cdcnotify.observe;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.helidon.metrics.api.Timer;

/**
 * Delivery lag as the writers record it, once per delivery, cheaply: per bucket of the lag histogram a count and
 * a sum of microseconds, and the largest lag, in one of a few stripes picked by the recording thread. {@link
 * #publishTo} moves what was recorded since its last call into the Micrometer timer that {@code /metrics} shows,
 * about once a second, from one thread.
 *
 * <p>Why: a timer's {@code record} updates a count, a sum, a time-windowed maximum and a time-windowed histogram,
 * each an atomic shared by every writer; once per delivery in a fan-out that was 3.7 % of the service's CPU
 * samples. Here a delivery takes an uncontended stripe's monitor for a few additions.
 *
 * <p>What the timer ends up with is exactly what recording each lag into it would have given: per bucket the same
 * count and the same sum, and the same maximum. Only which values inside a bucket were seen is lost, and the
 * timer's output never shows that.
 */
final class LagRecorder {

    private static final int STRIPES = 16;

    /** Upper bounds of the buckets in µs; a lag equal to a bound falls in its bucket (Prometheus's {@code le}). */
    private final long[] bounds;
    private final Stripe[] stripes = new Stripe[STRIPES];

    private static final class Stripe {
        /** Per bucket, the last one open (above every bound); guarded by the stripe. */
        final long[] counts;
        final long[] sums;
        long max = -1;

        Stripe(int buckets) {
            counts = new long[buckets];
            sums = new long[buckets];
        }
    }

    LagRecorder(Duration[] buckets) {
        bounds = new long[buckets.length];
        for (int i = 0; i < buckets.length; i++) {
            bounds[i] = buckets[i].toNanos() / 1_000;
        }
        for (int s = 0; s < STRIPES; s++) {
            stripes[s] = new Stripe(buckets.length + 1);
        }
    }

    /** One delivery's lag; a negative one (clocks apart) counts as 0. Any thread. */
    void record(long lagMicros) {
        long micros = Math.max(0, lagMicros);
        int i = bucket(micros);
        long id = Thread.currentThread().threadId();
        Stripe stripe = stripes[(int) ((id ^ (id >>> 7)) & (STRIPES - 1))];
        synchronized (stripe) {
            stripe.counts[i]++;
            stripe.sums[i] += micros;
            if (micros > stripe.max) {
                stripe.max = micros;
            }
        }
    }

    private int bucket(long micros) {
        int i = 0;
        while (i < bounds.length && micros > bounds[i]) {
            i++;
        }
        return i;
    }

    /**
     * Hands the timer what was recorded since the last call: per bucket, as many values as deliveries, each inside
     * the bucket, together exactly as large as those lags were, the largest of all as itself.
     */
    synchronized void publishTo(Timer timer) {
        long[] counts = new long[bounds.length + 1];
        long[] sums = new long[bounds.length + 1];
        long max = -1;
        for (Stripe stripe : stripes) {
            synchronized (stripe) {
                for (int i = 0; i < counts.length; i++) {
                    counts[i] += stripe.counts[i];
                    sums[i] += stripe.sums[i];
                    stripe.counts[i] = 0;
                    stripe.sums[i] = 0;
                }
                max = Math.max(max, stripe.max);
                stripe.max = -1;
            }
        }
        int maxIn = max < 0 ? -1 : bucket(max);
        for (int i = 0; i < counts.length; i++) {
            long n = counts[i];
            long sum = sums[i];
            if (n == 0) {
                continue;
            }
            if (i == maxIn) {
                record(timer, max);
                n--;
                sum -= max;
            }
            // n values between the bucket's bounds adding up to sum: its mean, and one more for the remainder
            if (n > 0) {
                long base = sum / n;
                long more = sum - base * n;
                for (long k = 0; k < n; k++) {
                    record(timer, k < more ? base + 1 : base);
                }
            }
        }
    }

    private static void record(Timer timer, long micros) {
        timer.record(micros, TimeUnit.MICROSECONDS);
    }
}
