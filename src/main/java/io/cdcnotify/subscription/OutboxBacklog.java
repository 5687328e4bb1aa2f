package io.cdcnotify.subscription;

import java.sql.SQLException;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import io.cdcnotify.hub.Backlog;
import io.cdcnotify.hub.Publication;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;
import io.cdcnotify.wire.Filter;

/**
 * A resume: the outbox read from a cursor, page by page, with the same reader as the live stream. Its
 * position after the last page says exactly which live events it already delivered.
 */
final class OutboxBacklog implements Backlog {

    private final OutboxReader reader;
    private final Set<String> tables;
    private final int pageSize;
    private final Optional<Filter> filter;
    private ReadPosition position;
    private boolean caughtUp;

    /**
     * @param tables only these tables; empty for every table
     */
    OutboxBacklog(OutboxReader reader, ReadPosition from, Set<String> tables, Optional<Filter> filter, int pageSize) {
        this.filter = filter;
        this.reader = reader;
        this.position = from;
        this.tables = tables;
        this.pageSize = pageSize;
    }

    @Override
    public List<Publication> nextPage() throws SQLException {
        OutboxReader.Page page = reader.read(position, pageSize, tables);
        position = page.next();
        caughtUp = !page.full();
        return page.events().stream()
                .filter(e -> filter.isEmpty() || filter.get().matches(e, new Filter.Payload(e.payload())))
                .map(Publication::new)
                .toList();
    }

    @Override
    public boolean rereadable() {
        return true;
    }

    @Override
    public boolean caughtUp() {
        return caughtUp;
    }

    @Override
    public boolean notDelivered(Publication publication) {
        OutboxEvent e = publication.event();
        return position.covers(e.xid(), e.id());
    }
}
