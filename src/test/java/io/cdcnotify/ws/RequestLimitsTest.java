package io.cdcnotify.ws;

import java.util.ArrayList;
import java.util.List;

import io.cdcnotify.ws.RequestLimits.Verdict;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The per-connection rules of contract section 4, with synthetic clocks: the 20th bad request within 10 s closes
 * (4400), and a message rate over the limit in 5 consecutive seconds closes (4429), never sooner than 5 s after
 * the first {@code limit_exceeded}.
 */
class RequestLimitsTest {

    private static final long SECOND = 1_000_000_000L;
    private static final long MS = 1_000_000L;
    /** An arbitrary origin: the rules must not depend on where the nano clock starts. */
    private static final long T0 = -7_777_777_777L;

    // ---- bad requests ----

    @Test
    void nineteenBadRequestsNeverCloseTheTwentiethDoes() {
        RequestLimits limits = new RequestLimits(100, T0);
        for (int i = 0; i < 19; i++) {
            assertThat(limits.badRequest(T0 + i * 100 * MS)).as("bad request %d", i + 1).isFalse();
        }
        assertThat(limits.badRequest(T0 + 1_900 * MS)).as("the 20th within 10 s").isTrue();
    }

    @Test
    void twentyAtTheSameInstantClose() {
        RequestLimits limits = new RequestLimits(100, T0);
        for (int i = 0; i < 19; i++) {
            assertThat(limits.badRequest(T0)).isFalse();
        }
        assertThat(limits.badRequest(T0)).isTrue();
    }

    @Test
    void twentyJustWithinTenSecondsClose() {
        RequestLimits limits = new RequestLimits(100, T0);
        limits.badRequest(T0);
        for (int i = 1; i < 19; i++) {
            assertThat(limits.badRequest(T0 + i * 500 * MS)).isFalse();
        }
        assertThat(limits.badRequest(T0 + 10 * SECOND - 1)).isTrue();
    }

    @Test
    void oldBadRequestsAgeOut() {
        RequestLimits limits = new RequestLimits(100, T0);
        for (int i = 0; i < 19; i++) {
            assertThat(limits.badRequest(T0)).isFalse();
        }
        // ten seconds after the first 19, they no longer count
        assertThat(limits.badRequest(T0 + 10 * SECOND)).isFalse();
        for (int i = 0; i < 18; i++) {
            assertThat(limits.badRequest(T0 + 10 * SECOND + i)).isFalse();
        }
        assertThat(limits.badRequest(T0 + 10 * SECOND + 18)).as("20 in the new window").isTrue();
    }

    @Test
    void aSteadyTrickleBelowTheRateNeverCloses() {
        RequestLimits limits = new RequestLimits(100, T0);
        // one bad request every 0.55 s: at most 19 in any 10 s, for ten minutes
        for (long t = 0; t < 600 * SECOND; t += 550 * MS) {
            assertThat(limits.badRequest(T0 + t)).as("at %d ms", t / MS).isFalse();
        }
    }

    @Property(tries = 500)
    void badRequestsCloseExactlyWhenTwentyFallWithinTenSeconds(@ForAll("gaps") List<Long> gaps) {
        RequestLimits limits = new RequestLimits(100, T0);
        List<Long> times = new ArrayList<>();
        long t = T0;
        for (long gap : gaps) {
            t += gap;
            times.add(t);
            int inWindow = 0;
            for (long earlier : times) {
                if (t - earlier < 10 * SECOND) {
                    inWindow++;
                }
            }
            assertThat(limits.badRequest(t)).as("%d bad requests in the 10 s up to now", inWindow)
                    .isEqualTo(inWindow >= 20);
        }
    }

    @Provide
    Arbitrary<List<Long>> gaps() {
        return Arbitraries.oneOf(Arbitraries.longs().between(0, 50 * MS),
                                 Arbitraries.longs().between(0, 1_100 * MS),
                                 Arbitraries.longs().between(0, 12 * SECOND))
                .list().ofMinSize(1).ofMaxSize(120);
    }

    // ---- message rate ----

    @Test
    void upToTheLimitIsOkThenLimited() {
        RequestLimits limits = new RequestLimits(10, T0);
        for (int i = 0; i < 10; i++) {
            assertThat(limits.message(T0 + i * MS)).isEqualTo(Verdict.OK);
        }
        assertThat(limits.message(T0 + 11 * MS)).isEqualTo(Verdict.LIMITED);
        assertThat(limits.message(T0 + 12 * MS)).isEqualTo(Verdict.LIMITED);
        // the next second starts afresh
        assertThat(limits.message(T0 + SECOND)).isEqualTo(Verdict.OK);
    }

    @Test
    void overTheLimitInFiveConsecutiveSecondsCloses() {
        RequestLimits limits = new RequestLimits(10, T0);
        List<Verdict> last = new ArrayList<>();
        for (int second = 0; second < 5; second++) {
            last.clear();
            for (int i = 0; i < 12; i++) {
                last.add(limits.message(T0 + second * SECOND + i * MS));
            }
            if (second < 4) {
                assertThat(last).doesNotContain(Verdict.CLOSE);
            }
        }
        // the first LIMITED came at 10 ms; 5 s later, still over the limit
        assertThat(limits.message(T0 + 5 * SECOND + 5 * MS)).isEqualTo(Verdict.OK);
        for (int i = 0; i < 9; i++) {
            limits.message(T0 + 5 * SECOND + 6 * MS + i);
        }
        assertThat(limits.message(T0 + 5 * SECOND + 20 * MS)).isEqualTo(Verdict.CLOSE);
    }

    @Test
    void neverClosesSoonerThanFiveSecondsAfterTheFirstLimited() {
        RequestLimits limits = new RequestLimits(10, T0);
        // second 0: the limit is passed only at 0.9 s
        for (int i = 0; i < 10; i++) {
            limits.message(T0 + i * MS);
        }
        long firstLimited = T0 + 900 * MS;
        assertThat(limits.message(firstLimited)).isEqualTo(Verdict.LIMITED);
        // seconds 1 to 5: over the limit from their start
        for (int second = 1; second <= 5; second++) {
            for (int i = 0; i < 30; i++) {
                long now = T0 + second * SECOND + i * 10 * MS;
                Verdict v = limits.message(now);
                if (now - firstLimited < 5 * SECOND) {
                    assertThat(v).as("at %d ms", (now - T0) / MS).isNotEqualTo(Verdict.CLOSE);
                }
            }
        }
        // at 5.9 s past the start, over the limit in the sixth consecutive second: close
        assertThat(limits.message(firstLimited + 5 * SECOND)).isEqualTo(Verdict.CLOSE);
    }

    @Test
    void aQuietSecondResetsTheStreak() {
        RequestLimits limits = new RequestLimits(10, T0);
        for (int second = 0; second < 4; second++) {
            floodSecond(limits, second, 20);
        }
        floodSecond(limits, 4, 10);  // exactly at the limit: not over
        for (int second = 5; second < 9; second++) {
            assertThat(floodSecond(limits, second, 20)).as("second %d", second).doesNotContain(Verdict.CLOSE);
        }
        // nine seconds of flooding with a quiet one in the middle: the streak is only 4 long
        assertThat(floodSecond(limits, 9, 20)).as("the fifth second of the new streak, but under 5 s since its "
                                                        + "first limited").doesNotContain(Verdict.CLOSE);
        assertThat(floodSecond(limits, 10, 20)).contains(Verdict.CLOSE);
    }

    @Test
    void aSilentSecondResetsTheStreak() {
        RequestLimits limits = new RequestLimits(10, T0);
        for (int second = 0; second < 4; second++) {
            floodSecond(limits, second, 20);
        }
        // nothing at all in second 4
        for (int second = 5; second < 10; second++) {
            assertThat(floodSecond(limits, second, 20)).as("second %d", second).doesNotContain(Verdict.CLOSE);
        }
    }

    @Test
    void limitedMessagesInOneSecondCountOnce() {
        // a thousand messages over the limit in one second are one second over the limit, not a streak
        RequestLimits limits = new RequestLimits(10, T0);
        for (int i = 0; i < 1_000; i++) {
            assertThat(limits.message(T0 + i * 100_000L)).isNotEqualTo(Verdict.CLOSE);
        }
        floodSecond(limits, 2, 20);
        assertThat(floodSecond(limits, 3, 20)).doesNotContain(Verdict.CLOSE);
    }

    /**
     * Whatever the timing, CLOSE comes only for a message over the limit, after a run of over-limit seconds with no
     * gap, at least 5 s after the first limited message of that run.
     */
    @Property(tries = 500)
    void closeOnlyAfterFiveSecondsOverTheLimitWithoutAGap(@ForAll("messageGaps") List<Long> gaps,
                                                         @ForAll @IntRange(min = 1, max = 5) int perSecond,
                                                         @ForAll @LongRange(min = -5_000_000_000L,
                                                                 max = 5_000_000_000L) long origin) {
        RequestLimits limits = new RequestLimits(perSecond, origin);
        long t = origin;
        long window = Long.MIN_VALUE;
        int inWindow = 0;
        long lastOverWindow = Long.MIN_VALUE;
        long runStart = 0;
        for (long gap : gaps) {
            t += gap;
            long w = Math.floorDiv(t - origin, SECOND);
            if (w != window) {
                window = w;
                inWindow = 0;
            }
            inWindow++;
            Verdict v = limits.message(t);
            if (inWindow <= perSecond) {
                assertThat(v).as("message %d of its second", inWindow).isEqualTo(Verdict.OK);
                continue;
            }
            if (w != lastOverWindow) {
                if (w != lastOverWindow + 1 || lastOverWindow == Long.MIN_VALUE) {
                    runStart = t;
                }
                lastOverWindow = w;
            }
            if (v == Verdict.CLOSE) {
                assertThat(t - runStart).as("closed %d ms after the run's first limited", (t - runStart) / MS)
                        .isGreaterThanOrEqualTo(5 * SECOND);
                return;
            }
            assertThat(v).isEqualTo(Verdict.LIMITED);
            if (t - runStart >= 5 * SECOND) {
                // over the limit in every second of a run at least 5 s long: must close now
                assertThat(v).as("over the limit since %d ms ago without a gap", (t - runStart) / MS)
                        .isEqualTo(Verdict.CLOSE);
            }
        }
    }

    @Provide
    Arbitrary<List<Long>> messageGaps() {
        return Arbitraries.oneOf(Arbitraries.longs().between(0, 30 * MS),
                                 Arbitraries.longs().between(0, 400 * MS),
                                 Arbitraries.longs().between(0, 2 * SECOND))
                .list().ofMinSize(1).ofMaxSize(400);
    }

    private static List<Verdict> floodSecond(RequestLimits limits, int second, int messages) {
        List<Verdict> verdicts = new ArrayList<>();
        for (int i = 0; i < messages; i++) {
            verdicts.add(limits.message(T0 + second * SECOND + i * 20 * MS));
        }
        return verdicts;
    }
}
