package io.cdcnotify.listen;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import io.cdcnotify.config.ListenerConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hears the outbox's doorbell and hands what it reads to the hub, on one named virtual thread.
 *
 * <p>One dedicated pgjdbc connection, outside the pool and touched by this thread alone, LISTENs; a finite
 * {@code getNotifications} wait and a periodic query notice a dead connection. A notification is only a
 * doorbell: every ring (and every poll tick, in case one was missed) reads the outbox from the reader's
 * position until it is drained. When the connection drops, the thread reconnects at once, then with capped
 * backoff, and the first read catches up on everything committed meanwhile. In {@code POLL} mode there is no
 * LISTEN connection: the thread reads on a timer.
 */
public final class OutboxListener {

    public static final String OUTBOX_CHANNEL = "cdc_outbox";
    public static final String CONTROL_CHANNEL = "cdc_control";

    private static final Logger LOG = LoggerFactory.getLogger(OutboxListener.class);

    private final Database database;
    private final OutboxReader reader;
    private final EventSink hub;
    private final ListenerConfig config;
    private final Consumer<String> control;
    private final Clock clock;
    private final AtomicLong reconnects = new AtomicLong();
    private volatile boolean running;
    private volatile boolean connected;
    private volatile Thread thread;
    private volatile long lastEventId = -1;
    private volatile long lagMillis;
    private ReadPosition position;
    /** When the connection was lost (nanoTime), 0 before the first loss. */
    private long downSince;

    /**
     * @param control receives the payload of each notification on the control channel; must not block
     */
    public OutboxListener(Database database, OutboxReader reader, EventSink hub, ListenerConfig config,
                          Consumer<String> control, Clock clock) {
        this.database = database;
        this.reader = reader;
        this.hub = hub;
        this.config = config;
        this.control = control;
        this.clock = clock;
    }

    /** Reads from {@code start} instead of the outbox's head: a relay leader goes on where the stream ends. */
    public OutboxListener startingAt(ReadPosition start) {
        this.position = start;
        return this;
    }

    public void start() {
        running = true;
        thread = Thread.ofVirtual().name("outbox-listener").start(this::run);
    }

    /** Stops the thread and releases the LISTEN connection. */
    public void stop() {
        running = false;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** True while the LISTEN connection is up (in POLL mode: while reads succeed). */
    public boolean connected() {
        return connected;
    }

    public long reconnects() {
        return reconnects.get();
    }

    /** The id of the last outbox row read, in read order; -1 before the first. */
    public long lastEventId() {
        return lastEventId;
    }

    /** From the last row's {@code created_at} to the moment it was read. */
    public long lagMillis() {
        return lagMillis;
    }

    private void run() {
        long backoff = 0;
        boolean wasConnected = false;
        while (running) {
            try {
                if (config.mode() == ListenerConfig.Mode.NOTIFY) {
                    listen(wasConnected);
                } else {
                    poll(wasConnected);
                }
            } catch (SQLException | RuntimeException e) {
                if (!running) {
                    break;
                }
                if (connected || downSince == 0) {
                    LOG.warn("outbox listener lost its connection, reconnecting: {}", e.getMessage());
                } else {
                    LOG.debug("outbox listener still cannot reconnect: {}", e.getMessage());
                }
            } catch (InterruptedException e) {
                break;
            }
            wasConnected |= connected;
            if (connected) {
                backoff = 0; // the first attempt after a loss goes at once
                downSince = System.nanoTime();
            }
            connected = false;
            if (!running) {
                break;
            }
            try {
                TimeUnit.MILLISECONDS.sleep(backoff);
            } catch (InterruptedException e) {
                break;
            }
            backoff = Math.min(Math.max(50, backoff * 2), config.maxBackoff().toMillis());
        }
        connected = false;
        LOG.info("outbox listener stopped");
    }

    private void listen(boolean reconnecting) throws SQLException, InterruptedException {
        try (Connection connection = database.openListenerConnection();
             Statement statement = connection.createStatement()) {
            statement.execute("LISTEN " + OUTBOX_CHANNEL);
            statement.execute("LISTEN " + CONTROL_CHANNEL);
            PGConnection pg = connection.unwrap(PGConnection.class);
            int caughtUp = start(reconnecting);
            if (reconnecting) {
                LOG.info("outbox listener reconnected after {} ms (reconnect {}); {} events caught up",
                         (System.nanoTime() - downSince) / 1_000_000, reconnects.get(), caughtUp);
            } else {
                LOG.info("outbox listener listening; {} events caught up", caughtUp);
            }
            long pollEvery = config.pollInterval().toNanos();
            long checkEvery = config.validityCheck().toNanos();
            long lastRead = System.nanoTime();
            long lastCheck = lastRead;
            while (running) {
                PGNotification[] notifications = pg.getNotifications((int) config.waitTimeout().toMillis());
                boolean doorbell = false;
                if (notifications != null) {
                    for (PGNotification n : notifications) {
                        if (CONTROL_CHANNEL.equals(n.getName())) {
                            control.accept(n.getParameter());
                        } else {
                            doorbell = true;
                        }
                    }
                }
                long now = System.nanoTime();
                if (doorbell || now - lastRead >= pollEvery) {
                    drain();
                    lastRead = now;
                }
                if (!doorbell && now - lastCheck >= checkEvery) {
                    statement.execute("SELECT 1");
                    lastCheck = now;
                }
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        }
    }

    private void poll(boolean reconnecting) throws SQLException, InterruptedException {
        int caughtUp = start(reconnecting);
        LOG.info("outbox poller {}; {} events caught up", reconnecting ? "resumed" : "started", caughtUp);
        while (running) {
            TimeUnit.NANOSECONDS.sleep(config.pollInterval().toNanos());
            drain();
        }
    }

    /** Marks the listener connected and catches up: from now on first start, from where it was after a loss. */
    private int start(boolean reconnecting) throws SQLException {
        if (position == null) {
            position = reader.head();
        }
        int caughtUp = drain();
        connected = true;
        if (reconnecting) {
            reconnects.incrementAndGet();
        }
        return caughtUp;
    }

    /** Reads until the outbox is drained; returns the number of events read. */
    private int drain() throws SQLException {
        int total = 0;
        OutboxReader.Page page;
        do {
            page = reader.read(position, config.pageSize(), Set.of());
            if (!page.events().isEmpty()) {
                hub.publish(page);
                OutboxEvent last = page.events().getLast();
                lastEventId = last.id();
                lagMillis = Math.max(0, clock.millis() - last.createdAtMicros() / 1000);
                total += page.events().size();
            }
            if (LOG.isDebugEnabled()) {
                LOG.debug("read {} events from {} to {}", page.events().size(), position, page.next());
            }
            position = page.next();
        } while (page.full() && running);
        return total;
    }
}
