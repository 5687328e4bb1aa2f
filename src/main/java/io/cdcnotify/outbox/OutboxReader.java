package io.cdcnotify.outbox;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.IntFunction;

import javax.sql.DataSource;

/**
 * Reads the outbox from a {@link ReadPosition}: the snapshot-diff reader of {@code docs/design/delivery.md}.
 *
 * <p>One statement per page, so the rows and the list of transactions still in progress come from the same
 * snapshot. The page is two index range scans on {@code (xid, id)} joined by {@code UNION ALL}: late rows of
 * pending transactions, and rows past {@code last}. Plain JDBC: this is the hot path.
 *
 * <p>Every range is written as row comparisons on {@code (xid, id)}, which only the {@code (xid, id)} index can
 * serve, and a pending transaction's rows as a {@code LATERAL} range per transaction, so that no plan PostgreSQL
 * may choose walks the outbox: pgjdbc prepares the statements on the server from their fifth use, and
 * PostgreSQL's generic plan for a plain join with the pending array was a merge join over the whole index
 * (6–11 ms a read at 40,000 rows), and {@code xid = ? AND id > ?} on a table with one large transaction a walk
 * of the primary key ({@code PendingReadCostTest}).
 */
public final class OutboxReader {

    private static final String SNAPSHOT = """
            WITH snap AS MATERIALIZED (
                SELECT ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) x ORDER BY 1) AS running
            )
            """;

    private static final String COLUMNS = """
            SELECT s.running, r.xid::text::bigint, r.id, r.table_name, r.operation, r.body,
                   (extract(epoch FROM r.created_at) * 1000000)::bigint, r.candidates
            """;

    /**
     * The rows of a page up to its byte budget: each row whose predecessors in the page weigh less than the budget
     * (so the first row always), with the number of rows there were before the cut.
     */
    private static final String WITHIN_BUDGET = """
            (SELECT q.*, sum(octet_length(q.body)) OVER w - octet_length(q.body) AS before, count(*) OVER () AS candidates
               FROM (SELECT xid, id, table_name, operation, payload::text AS body, created_at
                       FROM %s ORDER BY xid, id LIMIT ?) q
             WINDOW w AS (ORDER BY q.xid, q.id ROWS UNBOUNDED PRECEDING))
            """;

    /**
     * The rows of one transaction after one of its ids ({@code xid = x AND id > after}) as a range of row comparisons
     * on {@code (xid, id)} bounded on both sides, which only that index serves (see above). Formatted with the xid's
     * and the after's expressions; the pending half and the continuation share it.
     */
    private static final String ONE_TRANSACTION_AFTER =
            " (o.xid, o.id) > (%1$s, %2$s) AND (o.xid, o.id) <= (%1$s, 9223372036854775807) ";

    private static final String PAGE = SNAPSHOT + ", page AS (" + """
                (SELECT o.xid, o.id, o.table_name, o.operation, o.payload, o.created_at
                   FROM unnest(?::bigint[], ?::bigint[]) AS p(x, after)
                   CROSS JOIN LATERAL (SELECT * FROM cdc.outbox o
                                        WHERE """ + ONE_TRANSACTION_AFTER.formatted("p.x::text::xid8", "p.after") + """
                 AND %1$s
                                        ORDER BY o.xid, o.id LIMIT ?) o
                  ORDER BY o.xid, o.id LIMIT ?)
                UNION ALL
                (SELECT o.xid, o.id, o.table_name, o.operation, o.payload, o.created_at
                   FROM cdc.outbox o
                  WHERE (o.xid, o.id) > (?::text::xid8, ?) AND %1$s
                  ORDER BY o.xid, o.id LIMIT ?)
            )
            """ + COLUMNS + """
              FROM snap s LEFT JOIN """ + WITHIN_BUDGET.formatted("page") + """
                   r ON r.before < ?
             ORDER BY r.xid, r.id
            """;

    private static final String PAGE_ALL_TABLES = PAGE.formatted("true");
    private static final String PAGE_SOME_TABLES = PAGE.formatted("o.table_name = ANY(?)");

    /** The rest of a transaction a page was cut in: it is read before anything else (see ReadPosition). */
    private static final String CONTINUATION = """
            SELECT NULL::bigint[], r.xid::text::bigint, r.id, r.table_name, r.operation, r.body,
                   (extract(epoch FROM r.created_at) * 1000000)::bigint, r.candidates
              FROM """ + WITHIN_BUDGET.formatted("""
                   (SELECT o.* FROM cdc.outbox o WHERE """ + ONE_TRANSACTION_AFTER.formatted("?::text::xid8", "?") + """
                 AND %s) o""") + """
                   r
             WHERE r.before < ?
             ORDER BY r.xid, r.id
            """;

    private static final String CONTINUATION_ALL_TABLES = CONTINUATION.formatted("true");
    private static final String CONTINUATION_SOME_TABLES = CONTINUATION.formatted("o.table_name = ANY(?)");

    private static final String HEAD = SNAPSHOT + """
            SELECT s.running, m.xid::text::bigint, m.id
              FROM snap s LEFT JOIN (SELECT xid, id FROM cdc.outbox ORDER BY xid DESC, id DESC LIMIT 1) m ON true
            """;

    /** A page's byte budget by default ({@code cdc.outbox.page-bytes}): half a connection's default byte budget. */
    public static final long DEFAULT_PAGE_BYTES = 4L << 20;

    private final DataSource dataSource;
    private final long pageBytes;

    public OutboxReader(DataSource dataSource) {
        this(dataSource, DEFAULT_PAGE_BYTES);
    }

    /**
     * @param pageBytes a page stops at the first row past this many bytes of payload (it always holds one row), so
     *                  a page of large rows never needs more memory than this plus one row (1 MiB at most)
     */
    public OutboxReader(DataSource dataSource, long pageBytes) {
        if (pageBytes <= 0) {
            throw new IllegalArgumentException("page bytes must be positive");
        }
        this.dataSource = dataSource;
        this.pageBytes = pageBytes;
    }

    /** The position right after everything committed now: where a reader that starts live begins. */
    public ReadPosition head() throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement st = c.prepareStatement(HEAD);
             ResultSet rs = st.executeQuery()) {
            rs.next();
            long[] running = longs(rs.getArray(1));
            long xid = rs.getLong(2);
            long id = rs.getLong(3);
            return ReadPosition.at(xid, id, running);
        }
    }

    /**
     * Reads at most {@code limit} rows from {@code from}, in (xid, id) order, and no more rows than fit the page's
     * byte budget (at least one).
     *
     * @param tables only rows of these tables; empty for all
     */
    public Page read(ReadPosition from, int limit, Set<String> tables) throws SQLException {
        if (from.continuation().isPresent()) {
            return continueCut(from, from.continuation().get(), limit, tables);
        }
        try (Connection c = dataSource.getConnection();
             PreparedStatement st = c.prepareStatement(tables.isEmpty() ? PAGE_ALL_TABLES : PAGE_SOME_TABLES)) {
            Array tableArray = tables.isEmpty() ? null : c.createArrayOf("text", tables.toArray());
            int i = 1;
            st.setObject(i++, from.pendingXids());
            st.setObject(i++, from.pendingAfter());
            if (tableArray != null) {
                st.setArray(i++, tableArray);
            }
            st.setInt(i++, limit);
            st.setInt(i++, limit);
            st.setLong(i++, from.lastXid());
            st.setLong(i++, from.lastId());
            if (tableArray != null) {
                st.setArray(i++, tableArray);
            }
            st.setInt(i++, limit);
            st.setInt(i++, limit);
            st.setLong(i, pageBytes);
            try (ResultSet rs = st.executeQuery()) {
                return page(from, rs, limit);
            }
        }
    }

    private Page continueCut(ReadPosition from, ReadPosition.Continuation cut, int limit, Set<String> tables)
            throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement st = c.prepareStatement(tables.isEmpty() ? CONTINUATION_ALL_TABLES
                                                                          : CONTINUATION_SOME_TABLES)) {
            int i = 1;
            st.setLong(i++, cut.xid());
            st.setLong(i++, cut.after());
            st.setLong(i++, cut.xid());
            if (!tables.isEmpty()) {
                st.setArray(i++, c.createArrayOf("text", tables.toArray()));
            }
            st.setInt(i++, limit);
            st.setLong(i, pageBytes);
            try (ResultSet rs = st.executeQuery()) {
                return page(from, rs, limit);
            }
        }
    }

    private static Page page(ReadPosition from, ResultSet rs, int limit) throws SQLException {
        long[] running = null;
        long candidates = 0;
        List<Row> rows = new ArrayList<>();
        while (rs.next()) {
            if (running == null) {
                running = longs(rs.getArray(1));
            }
            long xid = rs.getLong(2);
            if (rs.wasNull()) {
                break; // the snapshot's row alone: no outbox rows
            }
            rows.add(new Row(xid, rs.getLong(3), rs.getString(4), rs.getString(5), rs.getString(6), rs.getLong(7)));
            candidates = rs.getLong(8);
        }
        long[] inProgress = running == null ? new long[0] : running;
        List<OutboxEvent> events = new ArrayList<>(rows.size());
        long[] below = null;
        long belowXid = -1;
        for (Row row : rows) {
            if (row.xid != belowXid) {
                below = from.cursorPending(inProgress, row.xid);
                belowXid = row.xid;
            }
            Cursor cursor = new Cursor(row.xid, row.id, below);
            events.add(new OutboxEvent(row.id, row.xid, row.table, row.operation, row.payload, row.createdAtMicros, cursor));
        }
        // cut by its row limit, or by its byte budget before the rows it could have held
        boolean full = rows.size() >= limit || rows.size() < candidates;
        boolean continuation = from.continuation().isPresent();
        ReadPosition next = continuation
                ? from.continued(new Keys(rows), full)
                : from.advance(new Keys(rows), inProgress, full);
        // the position after each row: the page as if its size limit had cut it right there (same snapshot)
        IntFunction<ReadPosition> positions = i -> continuation
                ? from.continued(new Keys(rows.subList(0, i + 1)), true)
                : from.advance(new Keys(rows.subList(0, i + 1)), inProgress, true);
        return new Page(events, next, full || continuation, positions);
    }

    private static long[] longs(Array array) throws SQLException {
        if (array == null) {
            return new long[0];
        }
        Object[] values = (Object[]) array.getArray();
        long[] result = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = ((Number) values[i]).longValue();
        }
        Arrays.sort(result);
        return result;
    }

    /**
     * A page of the outbox.
     *
     * @param events the rows, in (xid, id) order, each with its cursor
     * @param next   where the next read starts
     * @param full   whether more rows may follow at once: the page was cut by its size limit, or it finished a
     *               transaction an earlier page cut (the rest of that snapshot was not read)
     */
    public record Page(List<OutboxEvent> events, ReadPosition next, boolean full, IntFunction<ReadPosition> positions) {

        public Page(List<OutboxEvent> events, ReadPosition next, boolean full) {
            this(events, next, full, i -> {
                throw new UnsupportedOperationException("positions of a page built by hand");
            });
        }

        /**
         * The exact position right after event {@code i}: reading on from it neither repeats nor skips anything
         * (a relay's new leader goes on from the last event it finds published). Computed on demand.
         */
        public ReadPosition positionAfter(int i) {
            return i == events.size() - 1 ? next : positions.apply(i);
        }
    }

    private record Row(long xid, long id, String table, String operation, String payload, long createdAtMicros) {
    }

    private record Keys(List<Row> rows) implements ReadPosition.RowKeys {
        @Override
        public int size() {
            return rows.size();
        }

        @Override
        public long xid(int i) {
            return rows.get(i).xid;
        }

        @Override
        public long id(int i) {
            return rows.get(i).id;
        }
    }
}
