package io.cdcnotify.ws;

import java.util.ArrayDeque;

/**
 * The two per-connection rules on what a client sends (contract section 4), for the connection's reader
 * thread alone.
 *
 * <ul>
 *     <li>Bad requests: the 20th {@code bad_request} within any 10 s closes the connection (4400).</li>
 *     <li>Rate: past {@code perSecond} messages in a second, messages get {@code limit_exceeded}; over the limit
 *     in each of 5 consecutive seconds, and at least 5 s after the first {@code limit_exceeded}, the
 *     connection closes (4429).</li>
 * </ul>
 */
final class RequestLimits {

    static final int BAD_REQUESTS = 20;
    static final long BAD_REQUEST_WINDOW_NANOS = 10_000_000_000L;
    static final int OVER_LIMIT_SECONDS = 5;
    private static final long SECOND = 1_000_000_000L;

    enum Verdict { OK, LIMITED, CLOSE }

    private final int perSecond;
    private final long origin;
    private final ArrayDeque<Long> badRequests = new ArrayDeque<>();
    private long window = -1;
    private int inWindow;
    private long lastOverWindow = Long.MIN_VALUE;
    private int overStreak;
    private long streakStart;

    RequestLimits(int perSecond, long nowNanos) {
        this.perSecond = perSecond;
        this.origin = nowNanos;
    }

    /** Counts one {@code bad_request} sent; true when it is the one that closes the connection. */
    boolean badRequest(long nowNanos) {
        badRequests.addLast(nowNanos);
        while (nowNanos - badRequests.peekFirst() >= BAD_REQUEST_WINDOW_NANOS) {
            badRequests.removeFirst();
        }
        return badRequests.size() >= BAD_REQUESTS;
    }

    /** Counts one valid message and says what to do with it. */
    Verdict message(long nowNanos) {
        long w = (nowNanos - origin) / SECOND;
        if (w != window) {
            window = w;
            inWindow = 0;
        }
        if (++inWindow <= perSecond) {
            return Verdict.OK;
        }
        if (w != lastOverWindow) {
            if (w == lastOverWindow + 1) {
                overStreak++;
            } else {
                overStreak = 1;
                streakStart = nowNanos;
            }
            lastOverWindow = w;
        }
        boolean close = overStreak >= OVER_LIMIT_SECONDS && nowNanos - streakStart >= OVER_LIMIT_SECONDS * SECOND;
        return close ? Verdict.CLOSE : Verdict.LIMITED;
    }
}
