package io.cdcnotify.observe;

import java.util.concurrent.atomic.AtomicLong;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.LoggerFactory;
import org.slf4j.Marker;

/**
 * Keeps what clients do to their own connections out of the log as stack traces. Helidon's web server logs a
 * WARN with a full stack trace for each connection a client abandons half-way through a request (and for other
 * socket-level failures a client can cause at will): 400 slow sockets would be 400 traces. This logback turbo
 * filter drops those lines (WARN or below, with a throwable, from {@code io.helidon.webserver}) and writes
 * instead at most one WARN line per interval, without a trace: how many there were, and the latest's exception
 * classes. Lines without a throwable, ERROR lines and everyone else's lines pass untouched.
 *
 * <p>Configured in {@code logback.xml}: {@code <turboFilter class="io.cdcnotify.observe.ConnectionNoiseFilter"/>},
 * optionally with {@code <intervalSeconds>60</intervalSeconds>}.
 */
public final class ConnectionNoiseFilter extends TurboFilter {

    private static final String SOURCE = "io.helidon.webserver";
    /** Where the summary line goes; outside {@link #SOURCE}, so this filter passes it. */
    static final String SUMMARY_LOGGER = "io.cdcnotify.observe.ConnectionNoise";

    private volatile long intervalNanos = 60_000_000_000L;
    private final AtomicLong nextSummaryAt = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong droppedEver = new AtomicLong();

    public void setIntervalSeconds(long seconds) {
        this.intervalNanos = Math.max(0, seconds) * 1_000_000_000L;
    }

    @Override
    public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
        if (t == null || level == null || level.isGreaterOrEqual(Level.ERROR) || !logger.getName().startsWith(SOURCE)) {
            return FilterReply.NEUTRAL;
        }
        droppedEver.incrementAndGet();
        long count = dropped.incrementAndGet();
        long now = System.nanoTime();
        long next = nextSummaryAt.get();
        if ((next == Long.MIN_VALUE || now - next >= 0) && nextSummaryAt.compareAndSet(next, now + intervalNanos)) {
            dropped.addAndGet(-count);
            LoggerFactory.getLogger(SUMMARY_LOGGER).warn(
                    "{} client connection(s) ended with an error the web server would have logged with a stack trace "
                            + "(latest: {} at {}); at most one such line per {} s",
                    count, causes(t), logger.getName(), intervalNanos / 1_000_000_000L);
        }
        return FilterReply.DENY;
    }

    /** Lines dropped since start, for tests. */
    long droppedEver() {
        return droppedEver.get();
    }

    /** The exception classes of a chain, outermost first: what happened, without messages that may quote a request. */
    private static String causes(Throwable t) {
        StringBuilder b = new StringBuilder();
        int depth = 0;
        for (Throwable c = t; c != null && depth < 5; c = c.getCause() == c ? null : c.getCause(), depth++) {
            if (b.length() > 0) {
                b.append(" <- ");
            }
            b.append(c.getClass().getName());
        }
        return b.toString();
    }
}
