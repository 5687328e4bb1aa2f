package io.cdcnotify.outbox;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import io.cdcnotify.outbox.OutboxModel.Row;
import io.cdcnotify.outbox.OutboxModel.Snapshot;
import io.cdcnotify.outbox.OutboxModel.State;
import io.cdcnotify.outbox.OutboxModel.Tx;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * The reader's position: the predicate "not yet read" over {@code (xid, id)}, and how it moves after each page
 * ({@code docs/design/delivery.md}).
 */
class ReadPositionTest {

    private static final long[] NONE = new long[0];

    // ---- covers ----

    @Test
    void coversRowsPastLastAndLateRowsOfPendingTransactions() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 7}, new long[] {0, 50});

        assertThat(p.covers(10, 101)).as("same xid, higher id").isTrue();
        assertThat(p.covers(10, 100)).as("last itself").isFalse();
        assertThat(p.covers(10, 1)).as("same xid, lower id").isFalse();
        assertThat(p.covers(11, 1)).as("higher xid, any id").isTrue();
        assertThat(p.covers(9, 1_000)).as("lower xid, not pending, even with a high id").isFalse();
        assertThat(p.covers(5, 1)).as("between pending xids").isFalse();
        assertThat(p.covers(3, 1)).as("pending without a mark").isTrue();
        assertThat(p.covers(7, 50)).as("pending, at its mark").isFalse();
        assertThat(p.covers(7, 51)).as("pending, past its mark").isTrue();
        assertThat(p.covers(7, 200)).as("pending, past last's id").isTrue();
    }

    @Test
    void afterACursorCoversWhatFollowsItAndItsPendingTransactions() {
        long[] pending = {4, 8};
        Cursor cursor = new Cursor(9, 30, pending);
        ReadPosition p = ReadPosition.after(cursor);

        assertThat(p.covers(9, 30)).as("the cursor's own event").isFalse();
        assertThat(p.covers(9, 31)).isTrue();
        assertThat(p.covers(10, 2)).isTrue();
        assertThat(p.covers(8, 1)).as("pending: every row").isTrue();
        assertThat(p.covers(4, 99)).isTrue();
        assertThat(p.covers(5, 99)).as("finished before the cursor's read").isFalse();
        assertThat(p.covers(9, 29)).isFalse();

        pending[0] = 5; // the position must not share the cursor's array
        cursor.pending()[1] = 6;
        assertThat(p.covers(8, 1)).isTrue();
        assertThat(p.covers(5, 1)).isFalse();
    }

    @Test
    void atKeepsOnlyTheRunningTransactionsBelowLast() {
        ReadPosition p = ReadPosition.at(10, 5, new long[] {2, 7, 10, 12});

        assertThat(p.pendingXids()).containsExactly(2, 7);
        assertThat(p.pendingAfter()).containsExactly(0, 0);
        assertThat(p.covers(7, 1)).isTrue();
        assertThat(p.covers(12, 1)).isTrue();
        assertThat(p.covers(9, 100)).isFalse();
        assertThat(p.covers(10, 5)).isFalse();
        assertThat(p.covers(10, 6)).isTrue();
    }

    @Test
    void atTheStartOfAnEmptyOutboxEverythingIsToBeRead() {
        ReadPosition p = ReadPosition.at(0, 0, new long[] {5});
        assertThat(p.pendingXids()).isEmpty();
        assertThat(p.covers(1, 1)).isTrue();
        assertThat(p.covers(5, 1)).isTrue();
    }

    @Test
    void belowIsTheRunningXidsStrictlyBelow() {
        long[] running = {2, 5, 9};
        assertThat(ReadPosition.below(running, 1)).isEmpty();
        assertThat(ReadPosition.below(running, 2)).isEmpty();
        assertThat(ReadPosition.below(running, 3)).containsExactly(2);
        assertThat(ReadPosition.below(running, 5)).containsExactly(2);
        assertThat(ReadPosition.below(running, 6)).containsExactly(2, 5);
        assertThat(ReadPosition.below(running, 100)).containsExactly(2, 5, 9);
        assertThat(ReadPosition.below(NONE, 100)).isEmpty();
        assertThat(ReadPosition.below(running, 100)).isNotSameAs(running);
    }

    @Test
    void theStartCoversEverything() {
        ReadPosition start = ReadPosition.start();
        assertThat(start.covers(1, 1)).isTrue();
        assertThat(start.covers(Long.MAX_VALUE, Long.MAX_VALUE)).isTrue();
        assertThat(start.asCursor()).as("no row read yet: not a cursor").isEmpty();
    }

    @Test
    void aPositionIsACursorUnlessAPageCutATransaction() {
        ReadPosition plain = ReadPosition.at(10, 5, new long[] {3, 7, 12});
        assertThat(plain.asCursor()).contains(new Cursor(10, 5, new long[] {3, 7}));

        ReadPosition cut = new ReadPosition(10, 5, new long[] {3, 7}, new long[] {0, 4});
        assertThat(cut.asCursor()).isEmpty();

        Cursor c = new Cursor(99, 1, new long[] {50, 60});
        assertThat(ReadPosition.after(c).asCursor()).contains(c);
        assertThat(ReadPosition.at(0, 0, new long[] {1}).asCursor()).isEmpty();
    }

    // ---- advance, case by case ----

    @Test
    void anEmptyPageKeepsOnlyPendingTransactionsStillRunning() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 7}, new long[] {0, 0});

        ReadPosition next = p.advance(rows(), new long[] {7, 12}, false);

        assertThat(next.lastXid()).isEqualTo(10);
        assertThat(next.lastId()).isEqualTo(100);
        assertThat(next.pendingXids()).containsExactly(7);
        assertThat(next.covers(3, 1)).as("finished with no rows: nothing left").isFalse();
        assertThat(next.covers(7, 1)).isTrue();

        ReadPosition same = next.advance(rows(), new long[] {7}, false);
        assertThat(same.pendingXids()).containsExactly(7);
        assertThat(same.covers(7, 1)).isTrue();
        assertThat(same.covers(10, 101)).isTrue();
    }

    @Test
    void aPageReadToItsEndMovesLastToItsLastRow() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 7}, new long[] {0, 0});

        // late row of 3, then rows past last; 7 and 14 still running, 11 finished
        ReadPosition next = p.advance(rows(3, 40, 10, 101, 12, 90, 15, 2), new long[] {7, 14}, false);

        assertThat(next.lastXid()).isEqualTo(15);
        assertThat(next.lastId()).isEqualTo(2);
        assertThat(next.pendingXids()).containsExactly(7, 14);
        assertThat(next.pendingAfter()).containsExactly(0, 0);
        assertThat(next.covers(3, 41)).as("3 finished and was read").isFalse();
        assertThat(next.covers(12, 90)).isFalse();
        assertThat(next.covers(14, 1)).as("running below the new last").isTrue();
        assertThat(next.covers(15, 3)).isTrue();
        assertThat(next.covers(13, 1)).as("finished, below last, not running").isFalse();
    }

    @Test
    void aPageOfOnlyLateRowsReadToItsEndKeepsLast() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 7}, new long[] {0, 0});

        ReadPosition next = p.advance(rows(3, 40, 3, 41), new long[] {7}, false);

        // last must not move back to (3, 41): max(last, the last row)
        assertThat(next.lastXid()).isEqualTo(10);
        assertThat(next.lastId()).isEqualTo(100);
        assertThat(next.pendingXids()).containsExactly(7);
        assertThat(next.covers(3, 42)).isFalse();
        assertThat(next.covers(10, 101)).isTrue();
        assertThat(next.covers(8, 1)).isFalse();
    }

    @Test
    void aPageCutBeyondLastResumesInsideTheCutTransaction() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3}, new long[] {0});

        // full: transaction 12 has more rows after (12, 91)
        ReadPosition next = p.advance(rows(3, 40, 12, 90, 12, 91), new long[] {11, 13}, true);

        assertThat(next.lastXid()).isEqualTo(12);
        assertThat(next.lastId()).isEqualTo(91);
        assertThat(next.pendingXids()).containsExactly(11);
        assertThat(next.covers(12, 92)).as("the rest of the cut transaction").isTrue();
        assertThat(next.covers(12, 91)).isFalse();
        assertThat(next.covers(3, 41)).as("3 was read in full: its rows sort first").isFalse();
        assertThat(next.covers(11, 1)).isTrue();
        assertThat(next.covers(13, 1)).isTrue();
    }

    @Test
    void aPageCutAmongLateRowsResumesInsideTheCutPendingTransaction() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 5, 7}, new long[] {0, 0, 0});

        // full, cut after (5, 10): 3 read in full, 5 has more rows, 7 still running, nothing past last reached
        ReadPosition next = p.advance(rows(3, 1, 3, 2, 5, 10), new long[] {7, 20}, true);

        assertThat(next.lastXid()).isEqualTo(10);
        assertThat(next.lastId()).isEqualTo(100);
        assertThat(next.pendingXids()).containsExactly(5, 7);
        assertThat(next.pendingAfter()).containsExactly(10, 0);
        assertThat(next.covers(3, 3)).as("3 finished and sorted before the cut").isFalse();
        assertThat(next.covers(5, 10)).isFalse();
        assertThat(next.covers(5, 11)).as("the rest of 5").isTrue();
        assertThat(next.covers(5, 500)).isTrue();
        assertThat(next.covers(7, 1)).isTrue();
        assertThat(next.covers(10, 101)).isTrue();
    }

    @Test
    void aCutKeepsTheMarksOfCommittedPendingTransactionsAfterTheCut() {
        // 5 was cut before at id 10; now a page is cut inside 3, before 5's rest was reached
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 5, 8}, new long[] {0, 10, 0});

        ReadPosition next = p.advance(rows(3, 1, 3, 2), new long[] {}, true);

        assertThat(next.pendingXids()).containsExactly(3, 5, 8);
        assertThat(next.pendingAfter()).containsExactly(2, 10, 0);
        assertThat(next.covers(3, 3)).isTrue();
        assertThat(next.covers(5, 10)).as("read before").isFalse();
        assertThat(next.covers(5, 11)).isTrue();
        assertThat(next.covers(8, 1)).as("committed after the snapshot before, not read yet").isTrue();
    }

    @Test
    void aCutTransactionResumesAfterItsLastRowAndThenLeavesPending() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {5}, new long[] {0});

        ReadPosition first = p.advance(rows(5, 1, 5, 2), NONE, true);
        assertThat(first.covers(5, 2)).isFalse();
        assertThat(first.covers(5, 3)).isTrue();

        // the next page holds the rest of 5 and then rows past last; read to its end
        ReadPosition second = first.advance(rows(5, 3, 10, 101), NONE, false);
        assertThat(second.pendingXids()).isEmpty();
        assertThat(second.covers(5, 4)).isFalse();
        assertThat(second.lastId()).isEqualTo(101);

        // or it is cut exactly at 5's last row: 5 stays with its mark until a page ends short
        ReadPosition exact = first.advance(rows(5, 3), NONE, true);
        assertThat(exact.pendingXids()).containsExactly(5);
        assertThat(exact.pendingAfter()).containsExactly(3);
        ReadPosition done = exact.advance(rows(), NONE, false);
        assertThat(done.pendingXids()).isEmpty();
        assertThat(done.covers(10, 101)).isTrue();
    }

    @Test
    void transactionsStillRunningStayPendingWhateverThePage() {
        ReadPosition p = new ReadPosition(10, 100, new long[] {3, 7}, new long[] {0, 0});
        long[] running = {3, 7};

        for (ReadPosition next : List.of(
                p.advance(rows(), running, false),
                p.advance(rows(12, 1), running, false),
                p.advance(rows(12, 1, 12, 2), running, true))) {
            assertThat(next.covers(3, 1)).as(next.toString()).isTrue();
            assertThat(next.covers(7, 1_000_000)).as(next.toString()).isTrue();
        }
        ReadPosition moved = p.advance(rows(12, 1), new long[] {3, 7, 11}, false);
        assertThat(moved.pendingXids()).containsExactly(3, 7, 11);
    }

    // ---- the whole algorithm against a model of MVCC ----

    /**
     * Transactions begin, get xids, take ids (sometimes before their xid), write, commit or roll back in any
     * order; a reader starts at the head at some point and reads pages of at most {@code pageSize} rows, each
     * in a fresh snapshot, exactly as {@link OutboxReader} and the listener do. Every committed row is read
     * exactly once; after each read {@code covers} is exactly "not read yet"; one transaction's rows come in id
     * order; a transaction that committed before another got its xid comes first; every cursor resumes without
     * losing anything read after it, and re-delivers only rows that committed while its own transaction ran.
     */
    @Property(tries = 1500)
    void readingPagesFindsEveryCommittedRowExactlyOnce(@ForAll("operations") List<Integer> operations,
                                                       @ForAll @IntRange(min = 1, max = 5) int pageSize,
                                                       @ForAll @IntRange(min = 0, max = 80) int readerStartsAt,
                                                       @ForAll @IntRange(min = 1, max = 1000) int firstXid) {
        OutboxModel db = new OutboxModel(firstXid);
        Reader reader = null;
        for (int i = 0; i < operations.size(); i++) {
            if (i == readerStartsAt) {
                reader = new Reader(db, pageSize);
            }
            int op = operations.get(i);
            boolean read = step(db, op);
            if (read && reader != null) {
                reader.read();
            }
        }
        if (reader == null) {
            reader = new Reader(db, pageSize);
        }
        // everything ends; the reader catches up
        List<Tx> open = db.open();
        for (int i = open.size() - 1; i >= 0; i--) {
            if (i % 4 == 3) {
                db.abort(open.get(i));
            } else {
                db.commit(open.get(i));
            }
            reader.read();
        }
        reader.drain();

        for (Tx t : db.all) {
            if (t.state == State.COMMITTED) {
                for (Row r : t.rows) {
                    assertThat(reader.seen.contains(r) || reader.beforeStart.contains(r))
                            .as("committed row %s of %s was never read", r, t).isTrue();
                }
            }
        }
        assertThat(reader.position.pendingXids()).as("nothing runs: nothing pending").isEmpty();
        reader.checkOrder(db);
        reader.checkCursors(db);
    }

    /** Reads a model outbox the way the listener does, checking each step. */
    private static final class Reader {
        final OutboxModel db;
        final int pageSize;
        final Set<Row> beforeStart = new HashSet<>();
        final Set<Row> seen = new HashSet<>();
        final List<Row> delivered = new ArrayList<>();
        final List<Cursor> cursors = new ArrayList<>();
        final List<Snapshot> snapshots = new ArrayList<>();
        ReadPosition position;

        Reader(OutboxModel db, int pageSize) {
            this.db = db;
            this.pageSize = pageSize;
            this.beforeStart.addAll(db.snapshot().visible());
            this.position = db.head();
            checkCovers();
        }

        /** Reads one page; true when more may follow at once (a full page, or the end of a cut transaction). */
        boolean readMore() {
            boolean continuation = position.continuation().isPresent();
            return read() >= pageSize || continuation;
        }

        int read() {
            Snapshot s = db.snapshot();
            List<Row> page = OutboxModel.page(s, position, pageSize);
            for (Row r : page) {
                assertThat(beforeStart).as("read a row committed before the start").doesNotContain(r);
                if (!seen.add(r)) {
                    fail("row %s read twice; position was %s", r, position);
                }
                delivered.add(r);
                Cursor c = OutboxModel.cursor(r, s, position);
                assertThat(Cursor.decode(c.encode())).contains(c);
                cursors.add(c);
            }
            position = OutboxModel.advance(position, page, s, pageSize);
            checkCovers();
            return page.size();
        }

        void drain() {
            for (int guard = 0; readMore(); guard++) {
                if (guard > 100_000) {
                    fail("the reader never finished: %s", position);
                }
            }
        }

        /**
         * covers(row) is exactly "not read yet" for committed rows, and true for rows still in progress; when the
         * position is a cursor, that cursor covers the same rows.
         */
        void checkCovers() {
            position.asCursor().ifPresent(c -> {
                ReadPosition again = ReadPosition.after(c);
                for (Tx t : db.all) {
                    for (Row r : t.rows) {
                        assertThat(again.covers(r.xid(), r.id())).as("%s as cursor %s, row %s", position, c, r)
                                .isEqualTo(position.covers(r.xid(), r.id()));
                    }
                }
            });
            for (Tx t : db.all) {
                for (Row r : t.rows) {
                    boolean covered = position.covers(r.xid(), r.id());
                    switch (t.state) {
                        case OPEN -> assertThat(covered)
                                .as("row %s of a running transaction must stay covered by %s", r, position)
                                .isTrue();
                        case COMMITTED -> assertThat(covered)
                                .as("row %s (read: %s) by %s", r, seen.contains(r) || beforeStart.contains(r),
                                    position)
                                .isEqualTo(!seen.contains(r) && !beforeStart.contains(r));
                        case ABORTED -> {
                        }
                    }
                }
            }
        }

        void checkOrder(OutboxModel db) {
            Map<Tx, Integer> first = new HashMap<>();
            Map<Tx, Integer> last = new HashMap<>();
            Map<Tx, Long> lastId = new HashMap<>();
            for (int i = 0; i < delivered.size(); i++) {
                Row r = delivered.get(i);
                first.putIfAbsent(r.tx(), i);
                last.put(r.tx(), i);
                Long previous = lastId.put(r.tx(), r.id());
                if (previous != null) {
                    assertThat(r.id()).as("rows of %s in id order", r.tx()).isGreaterThan(previous);
                }
            }
            for (Tx a : first.keySet()) {
                for (Tx b : first.keySet()) {
                    if (a != b && a.commitStep < b.xidStep) {
                        assertThat(last.get(a)).as("%s committed before %s began", a, b).isLessThan(first.get(b));
                    }
                }
            }
        }

        void checkCursors(OutboxModel db) {
            for (int k = 0; k < delivered.size(); k++) {
                Row own = delivered.get(k);
                ReadPosition resume = ReadPosition.after(cursors.get(k));
                for (int j = k + 1; j < delivered.size(); j++) {
                    Row later = delivered.get(j);
                    assertThat(resume.covers(later.xid(), later.id()))
                            .as("resuming from %s (cursor %s) loses %s, read after it", own, cursors.get(k), later)
                            .isTrue();
                }
                assertThat(resume.covers(own.xid(), own.id())).as("the cursor's own event again").isFalse();
                for (int j = 0; j < k; j++) {
                    Row earlier = delivered.get(j);
                    if (resume.covers(earlier.xid(), earlier.id())) {
                        // a duplicate: allowed only for a transaction that committed while the cursor's ran
                        assertThat(earlier.tx().commitStep)
                                .as("resuming from %s re-delivers %s", own, earlier)
                                .isGreaterThan(own.tx().xidStep)
                                .isLessThan(own.tx().commitStep);
                    }
                }
            }
            // and a real resume from a few cursors reads exactly what covers says
            Random random = new Random(delivered.size());
            for (int n = 0; n < 3 && !delivered.isEmpty(); n++) {
                int k = random.nextInt(delivered.size());
                ReadPosition from = ReadPosition.after(cursors.get(k));
                Set<Row> expected = new HashSet<>();
                for (Row r : db.snapshot().visible()) {
                    if (from.covers(r.xid(), r.id())) {
                        expected.add(r);
                    }
                }
                Set<Row> resumed = new HashSet<>();
                boolean more;
                do {
                    boolean continuation = from.continuation().isPresent();
                    Snapshot s = db.snapshot();
                    List<Row> page = OutboxModel.page(s, from, pageSize);
                    for (Row r : page) {
                        assertThat(resumed.add(r)).as("resume read %s twice", r).isTrue();
                    }
                    from = OutboxModel.advance(from, page, s, pageSize);
                    more = page.size() >= pageSize || continuation;
                } while (more);
                assertThat(resumed).isEqualTo(expected);
                for (int j = k + 1; j < delivered.size(); j++) {
                    assertThat(resumed).contains(delivered.get(j));
                }
            }
        }
    }

    /** Applies one random operation; true when the reader should read now. */
    private static boolean step(OutboxModel db, int op) {
        int kind = op % 100;
        int target = op / 100;
        List<Tx> open = db.open();
        if (kind < 8 || open.isEmpty()) {
            db.begin();
            return false;
        }
        Tx tx = open.get(target % open.size());
        if (kind < 12) {
            db.assignXid(tx);           // wrote elsewhere first
        } else if (kind < 16) {
            db.reserveId(tx);           // nextval before the row (and maybe before the xid)
        } else if (kind < 46) {
            db.insert(tx);
        } else if (kind < 58) {
            db.commit(tx);
        } else if (kind < 62) {
            db.abort(tx);
        } else {
            return true;
        }
        return false;
    }

    @Provide
    Arbitrary<List<Integer>> operations() {
        return Arbitraries.integers().between(0, 99_999).list().ofMaxSize(160);
    }

    // ---- the contract's ordering, across pages ----

    /**
     * Contract section 3: "events of one transaction arrive consecutively, in id order". The listener drains
     * the outbox page by page, each page in its own snapshot (one statement per {@link OutboxReader#read}). When
     * a page is cut inside a transaction T and a transaction P with a lower xid, pending at that read, commits
     * before the next page, the next page sorts P's rows first: T's events arrive split around P's.
     */
    @Test
    void aTransactionCutByAPageStillArrivesConsecutively() {
        OutboxModel db = new OutboxModel(100);
        Tx p = db.begin();
        db.insert(p);                        // P: xid 100, row 1, still open
        Tx t = db.begin();
        db.insert(t);
        db.insert(t);
        db.insert(t);                        // T: xid 101, rows 2, 3, 4
        db.commit(t);

        int pageSize = 2;
        ReadPosition position = ReadPosition.at(0, 0, NONE); // the reader started before either transaction
        List<Row> delivered = new ArrayList<>();

        Snapshot s1 = db.snapshot();
        List<Row> page1 = OutboxModel.page(s1, position, pageSize);
        delivered.addAll(page1);
        position = OutboxModel.advance(position, page1, s1, pageSize);
        assertThat(page1.size()).as("the first page is full: the listener reads on at once").isEqualTo(pageSize);

        db.commit(p);                        // P commits between the two statements of one drain

        // the listener reads on while pages are full or finish a cut transaction
        for (int reads = 0; reads < 5 && delivered.size() < 4; reads++) {
            Snapshot s2 = db.snapshot();
            List<Row> page2 = OutboxModel.page(s2, position, pageSize);
            delivered.addAll(page2);
            position = OutboxModel.advance(position, page2, s2, pageSize);
        }

        List<Tx> order = delivered.stream().map(Row::tx).toList();
        assertThat(delivered).hasSize(4);
        int firstOfT = order.indexOf(t);
        int lastOfT = order.lastIndexOf(t);
        assertThat(order.subList(firstOfT, lastOfT + 1))
                .as("transaction T's events, delivered as %s, must be consecutive", delivered)
                .containsOnly(t);
    }

    // ---- helpers ----

    /** Row keys from (xid, id) pairs. */
    private static ReadPosition.RowKeys rows(long... pairs) {
        long[] xids = new long[pairs.length / 2];
        long[] ids = new long[pairs.length / 2];
        for (int i = 0; i < xids.length; i++) {
            xids[i] = pairs[2 * i];
            ids[i] = pairs[2 * i + 1];
        }
        return new ReadPosition.RowKeys() {
            @Override
            public int size() {
                return xids.length;
            }

            @Override
            public long xid(int i) {
                return xids[i];
            }

            @Override
            public long id(int i) {
                return ids[i];
            }
        };
    }
}
