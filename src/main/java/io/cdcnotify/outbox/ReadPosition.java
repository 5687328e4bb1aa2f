package io.cdcnotify.outbox;

import java.util.Arrays;

/**
 * What a reader has already read, as a predicate over {@code (xid, id)}: a row is still to be read when
 * {@code (xid, id) > last}, or when its transaction is pending and its id is above that transaction's
 * {@code after} mark.
 *
 * <p>Pending transactions are those that were in progress, below {@code last.xid}, at the reader's previous
 * snapshot; {@code after} is 0 for them. It is above 0 only for a transaction that committed late and whose
 * rows a page cut in two: the reader then resumes inside that transaction.
 *
 * <p>A page cut by its size limit may end inside a transaction. Its remaining rows are then read first, by
 * themselves ({@link #continuation()}), before anything else: otherwise a transaction that committed between
 * two pages and sorts before the cut one would land in the middle of it, and the contract wants each
 * transaction's events consecutive. Immutable.
 */
public final class ReadPosition {

    private static final long[] NONE = new long[0];

    private final long lastXid;
    private final long lastId;
    /** Pending transaction ids, ascending. */
    private final long[] pendingXids;
    /** For each pending transaction, rows with ids at or below this were read. */
    private final long[] pendingAfter;

    /** The transaction a page was cut in, whose remaining rows come next; 0 when none. */
    private final long cutXid;
    /** The last row of {@link #cutXid} read. */
    private final long cutId;

    ReadPosition(long lastXid, long lastId, long[] pendingXids, long[] pendingAfter) {
        this(lastXid, lastId, pendingXids, pendingAfter, 0, 0);
    }

    private ReadPosition(long lastXid, long lastId, long[] pendingXids, long[] pendingAfter, long cutXid, long cutId) {
        this.lastXid = lastXid;
        this.lastId = lastId;
        this.pendingXids = pendingXids;
        this.pendingAfter = pendingAfter;
        this.cutXid = cutXid;
        this.cutId = cutId;
    }

    /**
     * A transaction whose rows after a given id must be read before anything else, because the last page ended
     * inside it; empty when the last page ended at a transaction's end (or was not full).
     */
    public java.util.Optional<Continuation> continuation() {
        return cutXid == 0 ? java.util.Optional.empty() : java.util.Optional.of(new Continuation(cutXid, cutId));
    }

    /**
     * @param xid   the transaction
     * @param after its rows with ids above this are still to be read
     */
    public record Continuation(long xid, long after) {
    }

    /**
     * The pending list of the cursor of a row read at this position: the transactions in progress below it, or,
     * for a continuation (read without a snapshot of its own), every transaction still pending below it.
     */
    long[] cursorPending(long[] running, long xid) {
        return below(cutXid == 0 ? running : pendingXids, xid);
    }

    /**
     * The position after reading rows of the {@link #continuation()} transaction, in id order.
     *
     * @param full whether the read was cut by its size limit (more rows of it may remain)
     */
    ReadPosition continued(RowKeys rows, boolean full) {
        long lastRead = rows.size() == 0 ? cutId : rows.id(rows.size() - 1);
        boolean done = !full;
        if (cutXid == lastXid) {
            // cut among the new rows: the transaction at `last` goes on
            return new ReadPosition(lastXid, lastRead, pendingXids, pendingAfter, done ? 0 : cutXid, done ? 0 : lastRead);
        }
        // cut among the late rows of a pending transaction: its mark moves on; once read through, it is done
        int i = Arrays.binarySearch(pendingXids, cutXid);
        if (i < 0) {
            return new ReadPosition(lastXid, lastId, pendingXids, pendingAfter);
        }
        if (done) {
            long[] xids = new long[pendingXids.length - 1];
            long[] after = new long[xids.length];
            System.arraycopy(pendingXids, 0, xids, 0, i);
            System.arraycopy(pendingXids, i + 1, xids, i, xids.length - i);
            System.arraycopy(pendingAfter, 0, after, 0, i);
            System.arraycopy(pendingAfter, i + 1, after, i, after.length - i);
            return new ReadPosition(lastXid, lastId, xids, after);
        }
        long[] after = pendingAfter.clone();
        after[i] = lastRead;
        return new ReadPosition(lastXid, lastId, pendingXids, after, cutXid, lastRead);
    }

    /** The position before every row: everything in the outbox is still to be read. */
    public static ReadPosition start() {
        return new ReadPosition(0, 0, NONE, NONE);
    }

    /** This position as a cursor, when it is one: no row read yet, or a page cut a transaction, is not. */
    public java.util.Optional<Cursor> asCursor() {
        if (cutXid != 0 && cutXid != lastXid) {
            return java.util.Optional.empty();
        }
        for (long a : pendingAfter) {
            if (a != 0) {
                return java.util.Optional.empty();
            }
        }
        return lastXid > 0 && lastId > 0 ? java.util.Optional.of(new Cursor(lastXid, lastId, pendingXids.clone()))
                                         : java.util.Optional.empty();
    }

    /** The position right after a cursor's event. */
    public static ReadPosition after(Cursor cursor) {
        return new ReadPosition(cursor.xid(), cursor.id(), cursor.pending().clone(), new long[cursor.pending().length]);
    }

    /** The position after the row {@code (lastXid, lastId)}, with {@code running} the snapshot's in-progress xids. */
    static ReadPosition at(long lastXid, long lastId, long[] running) {
        long[] pending = below(running, lastXid);
        return new ReadPosition(lastXid, lastId, pending, new long[pending.length]);
    }

    /** True when the row {@code (xid, id)} has not been read yet. */
    public boolean covers(long xid, long id) {
        if (xid > lastXid || (xid == lastXid && id > lastId)) {
            return true;
        }
        int i = Arrays.binarySearch(pendingXids, xid);
        return i >= 0 && id > pendingAfter[i];
    }

    /**
     * The position after reading a page in one snapshot.
     *
     * @param rows    the page's rows in (xid, id) order
     * @param running the snapshot's in-progress transaction ids, ascending
     * @param full    whether the page was cut by its size limit, so rows past its last one may remain
     */
    ReadPosition advance(RowKeys rows, long[] running, boolean full) {
        if (rows.size() == 0) {
            // nothing visible: keep only what may still write
            return keepRunning(running);
        }
        long rowXid = rows.xid(rows.size() - 1);
        long rowId = rows.id(rows.size() - 1);
        boolean beyondLast = rowXid > lastXid || (rowXid == lastXid && rowId > lastId);
        if (beyondLast || !full) {
            // either the snapshot was read to its end, or it was cut past every pending row: all pending
            // transactions that have committed are read in full
            long newXid = beyondLast ? rowXid : lastXid;
            long newId = beyondLast ? rowId : lastId;
            ReadPosition next = at(newXid, newId, running);
            return full ? next.cutAt(rowXid, rowId) : next;
        }
        // cut among the late rows of pending transactions: last stays; the transaction cut in two resumes
        // after its last row read; pending transactions after it that committed keep their marks
        long[] xids = new long[pendingXids.length + running.length];
        long[] after = new long[xids.length];
        int n = 0;
        int r = 0;
        for (int p = 0; p < pendingXids.length; p++) {
            long q = pendingXids[p];
            while (r < running.length && running[r] < q) {
                // running but not pending: impossible for q below last (it was running before), kept for safety
                if (running[r] < lastXid) {
                    xids[n] = running[r];
                    after[n++] = 0;
                }
                r++;
            }
            boolean stillRunning = r < running.length && running[r] == q;
            if (stillRunning) {
                xids[n] = q;
                after[n++] = 0;
                r++;
            } else if (q == rowXid) {
                xids[n] = q;
                after[n++] = rowId;
            } else if (q > rowXid) {
                xids[n] = q;
                after[n++] = pendingAfter[p];
            }
        }
        while (r < running.length && running[r] < lastXid) {
            xids[n] = running[r++];
            after[n++] = 0;
        }
        return new ReadPosition(lastXid, lastId, Arrays.copyOf(xids, n), Arrays.copyOf(after, n), rowXid, rowId);
    }

    private ReadPosition cutAt(long xid, long id) {
        return new ReadPosition(lastXid, lastId, pendingXids, pendingAfter, xid, id);
    }

    private ReadPosition keepRunning(long[] running) {
        long[] xids = new long[pendingXids.length];
        long[] after = new long[pendingXids.length];
        int n = 0;
        for (int p = 0; p < pendingXids.length; p++) {
            if (Arrays.binarySearch(running, pendingXids[p]) >= 0) {
                xids[n] = pendingXids[p];
                after[n++] = pendingAfter[p];
            }
        }
        return n == pendingXids.length ? this : new ReadPosition(lastXid, lastId, Arrays.copyOf(xids, n), Arrays.copyOf(after, n));
    }

    /** The in-progress xids below {@code xid}, as a cursor's pending list. */
    static long[] below(long[] running, long xid) {
        int i = Arrays.binarySearch(running, xid);
        int end = i >= 0 ? i : -i - 1;
        return end == 0 ? NONE : Arrays.copyOf(running, end);
    }

    /**
     * This position as text, for a reader that must go on exactly here in another process (the relay's leader
     * hands it over through the stream): {@code p1:lastXid:lastId:cutXid:cutId} then {@code :xid-after} per
     * pending transaction.
     */
    public String encode() {
        StringBuilder text = new StringBuilder(32 + 24 * pendingXids.length);
        text.append("p1:").append(lastXid).append(':').append(lastId).append(':').append(cutXid).append(':').append(cutId);
        for (int i = 0; i < pendingXids.length; i++) {
            text.append(':').append(pendingXids[i]).append('-').append(pendingAfter[i]);
        }
        return text.toString();
    }

    /** The position {@link #encode()} wrote, or empty when the text is not one. */
    public static java.util.Optional<ReadPosition> decode(String text) {
        if (text == null || !text.startsWith("p1:")) {
            return java.util.Optional.empty();
        }
        String[] parts = text.substring(3).split(":", -1);
        if (parts.length < 4) {
            return java.util.Optional.empty();
        }
        try {
            long lastXid = Long.parseLong(parts[0]);
            long lastId = Long.parseLong(parts[1]);
            long cutXid = Long.parseLong(parts[2]);
            long cutId = Long.parseLong(parts[3]);
            long[] xids = new long[parts.length - 4];
            long[] after = new long[xids.length];
            for (int i = 0; i < xids.length; i++) {
                String[] pair = parts[i + 4].split("-", -1);
                if (pair.length != 2) {
                    return java.util.Optional.empty();
                }
                xids[i] = Long.parseLong(pair[0]);
                after[i] = Long.parseLong(pair[1]);
                if (xids[i] <= 0 || xids[i] >= lastXid || after[i] < 0 || (i > 0 && xids[i] <= xids[i - 1])) {
                    return java.util.Optional.empty();
                }
            }
            if (lastXid < 0 || lastId < 0 || cutXid < 0 || cutId < 0) {
                return java.util.Optional.empty();
            }
            return java.util.Optional.of(new ReadPosition(lastXid, lastId, xids, after, cutXid, cutId));
        } catch (NumberFormatException e) {
            return java.util.Optional.empty();
        }
    }

    long lastXid() {
        return lastXid;
    }

    long lastId() {
        return lastId;
    }

    long[] pendingXids() {
        return pendingXids;
    }

    long[] pendingAfter() {
        return pendingAfter;
    }

    @Override
    public String toString() {
        return "ReadPosition[last=(" + lastXid + "," + lastId + "), pending=" + Arrays.toString(pendingXids)
                + ", after=" + Arrays.toString(pendingAfter) + (cutXid == 0 ? "" : ", cut=(" + cutXid + "," + cutId + ")") + "]";
    }

    /** The (xid, id) keys of a page's rows, in order. */
    interface RowKeys {
        int size();

        long xid(int i);

        long id(int i);
    }
}
