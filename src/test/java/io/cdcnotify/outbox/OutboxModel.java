package io.cdcnotify.outbox;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;

/**
 * An in-memory stand-in for {@code cdc.outbox} under MVCC, for driving {@link ReadPosition} the way
 * {@link OutboxReader} does: transactions get an xid on their first write (or earlier), take ids from one
 * sequence (possibly before they have an xid), and commit or roll back in any order. A snapshot sees the rows of
 * committed transactions and lists the xids still in progress.
 */
final class OutboxModel {

    /** Ordering of rows in a page: (xid, id), as {@code ORDER BY xid, id}. */
    static final Comparator<Row> ORDER = Comparator.comparingLong(Row::xid).thenComparingLong(Row::id);

    enum State { OPEN, COMMITTED, ABORTED }

    record Row(long xid, long id, Tx tx) {
        @Override
        public String toString() {
            return "(" + xid + "," + id + ")";
        }
    }

    static final class Tx {
        final int number;
        Long xid;
        long xidStep = -1;
        long commitStep = -1;
        State state = State.OPEN;
        final Deque<Long> reservedIds = new ArrayDeque<>();
        final List<Row> rows = new ArrayList<>();

        Tx(int number) {
            this.number = number;
        }

        @Override
        public String toString() {
            return "T" + number + "[xid=" + xid + ", " + state + ", rows=" + rows + "]";
        }
    }

    /** One snapshot's view. */
    record Snapshot(long[] running, List<Row> visible) {
    }

    private long nextXid;
    private long nextId = 1;
    private long step;
    final List<Tx> all = new ArrayList<>();

    OutboxModel(long firstXid) {
        this.nextXid = firstXid;
    }

    Tx begin() {
        Tx tx = new Tx(all.size());
        all.add(tx);
        step++;
        return tx;
    }

    /** The transaction writes something (elsewhere, or its first outbox row) and so gets its xid now. */
    void assignXid(Tx tx) {
        if (tx.state == State.OPEN && tx.xid == null) {
            tx.xid = nextXid++;
            tx.xidStep = step++;
        }
    }

    /** {@code nextval} now, the row later: the id may be lower than ids of rows that commit earlier. */
    void reserveId(Tx tx) {
        if (tx.state == State.OPEN) {
            tx.reservedIds.add(nextId++);
            step++;
        }
    }

    Row insert(Tx tx) {
        if (tx.state != State.OPEN) {
            throw new IllegalStateException(tx + " is finished");
        }
        assignXid(tx);
        long id = tx.reservedIds.isEmpty() ? nextId++ : tx.reservedIds.poll();
        Row row = new Row(tx.xid, id, tx);
        tx.rows.add(row);
        step++;
        return row;
    }

    void commit(Tx tx) {
        if (tx.state == State.OPEN) {
            tx.state = State.COMMITTED;
            tx.commitStep = step++;
        }
    }

    void abort(Tx tx) {
        if (tx.state == State.OPEN) {
            tx.state = State.ABORTED;
            step++;
        }
    }

    List<Tx> open() {
        return all.stream().filter(t -> t.state == State.OPEN).toList();
    }

    Snapshot snapshot() {
        long[] running = all.stream()
                .filter(t -> t.state == State.OPEN && t.xid != null)
                .mapToLong(t -> t.xid)
                .sorted()
                .toArray();
        List<Row> visible = all.stream()
                .filter(t -> t.state == State.COMMITTED)
                .flatMap(t -> t.rows.stream())
                .toList();
        return new Snapshot(running, visible);
    }

    /** What {@link OutboxReader#read} returns in a snapshot: matching rows, in (xid, id) order, at most limit. */
    static List<Row> page(Snapshot snapshot, ReadPosition from, int limit) {
        if (from.continuation().isPresent()) {
            ReadPosition.Continuation cut = from.continuation().get();
            return snapshot.visible().stream()
                    .filter(r -> r.xid() == cut.xid() && r.id() > cut.after())
                    .sorted(ORDER)
                    .limit(limit)
                    .toList();
        }
        return snapshot.visible().stream()
                .filter(r -> from.covers(r.xid(), r.id()))
                .sorted(ORDER)
                .limit(limit)
                .toList();
    }

    /** The position after a page, as {@link OutboxReader} computes it. */
    static ReadPosition advance(ReadPosition from, List<Row> page, Snapshot snapshot, int limit) {
        return from.continuation().isPresent()
                ? from.continued(keys(page), page.size() >= limit)
                : from.advance(keys(page), snapshot.running(), page.size() >= limit);
    }

    /** The cursor {@link OutboxReader} gives a row read in a snapshot from a position. */
    static Cursor cursor(Row row, Snapshot snapshot, ReadPosition from) {
        return new Cursor(row.xid(), row.id(), from.cursorPending(snapshot.running(), row.xid()));
    }

    static ReadPosition.RowKeys keys(List<Row> rows) {
        return new ReadPosition.RowKeys() {
            @Override
            public int size() {
                return rows.size();
            }

            @Override
            public long xid(int i) {
                return rows.get(i).xid();
            }

            @Override
            public long id(int i) {
                return rows.get(i).id();
            }
        };
    }

    /** What {@link OutboxReader#head} returns: after the greatest visible row, pending what is in progress. */
    ReadPosition head() {
        Snapshot s = snapshot();
        Row max = s.visible().stream().max(ORDER).orElse(null);
        return max == null ? ReadPosition.at(0, 0, s.running()) : ReadPosition.at(max.xid(), max.id(), s.running());
    }
}
