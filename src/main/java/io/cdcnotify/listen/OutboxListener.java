package io.cdcnotify.listen;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

import io.cdcnotify.config.ListenerConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;
import io.cdcnotify.supervise.Worker;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hears the outbox's doorbell and hands what it reads to the hub, on two named virtual threads.
 *
 * <p>The doorbell ({@code outbox-listener}, {@code NOTIFY} mode only): one dedicated pgjdbc connection, outside the
 * pool and touched by this thread alone, LISTENs; a finite {@code getNotifications} wait and a periodic query
 * notice a dead connection. The thread only drains notifications and rings: it never reads the outbox, so a
 * reader never waits behind pgjdbc's notification loop (which keeps reading while notifications arrive less than a
 * millisecond apart). Under such a flood {@code getNotifications} itself does not return, so the connection's socket
 * ({@link RingingSocketFactory}) also rings as soon as any bytes arrive, from inside pgjdbc's read. When the
 * connection drops, the thread reconnects at once, then with capped backoff.
 *
 * <p>The reader ({@code outbox-reader}): reads the outbox from its position until it is drained, then waits for a
 * ring or the poll tick (the safety net, or in {@code POLL} mode the only trigger). A ring after a quiet spell is
 * read at once; while rings keep coming, reads start at most every {@code coalesce}, or {@code busyCoalesce} after a
 * read that found the outbox busy (one read serves every
 * transaction committed before it). The position lives in memory, so after any outage the next read catches up on
 * everything committed meanwhile; every LISTEN (first or after a reconnect) rings, and the listener counts as
 * connected only once a read that started after the LISTEN has finished.
 *
 * <p>While reads keep finding the outbox busy, the reader reads at the busy spacing without waiting for rings and
 * the doorbell UNLISTENs ({@link #quietWhile}); the first read that is not busy has it LISTEN again, and the reader
 * waits for rings only once a read that started after that LISTEN has finished.
 *
 * <p>Both threads are {@link Worker}s: one that dies (an {@code OutOfMemoryError}) or gets stuck makes
 * {@link #connected()} false at once and is replaced by {@link #supervise()}. A replaced reader cannot publish: the
 * position moves only under {@code publishLock} and only from where the page was read.
 */
public final class OutboxListener {

    public static final String OUTBOX_CHANNEL = "cdc_outbox";

    private static final Logger LOG = LoggerFactory.getLogger(OutboxListener.class);
    /** Numbers LISTEN connections, so each finds its own ring in {@link RingingSocketFactory}. */
    private static final AtomicLong SOCKET_IDS = new AtomicLong();
    /** Busy reads in a row after which the doorbell stops LISTENing (at the busy spacing, ~50 ms). */
    static final int QUIET_AFTER = 10;

    /** Test-only: runs at the top of each loop of a listener thread (named as the argument), may throw or block. */
    @FunctionalInterface
    interface Fault {
        Fault NONE = thread -> { };

        void at(String thread) throws InterruptedException;
    }

    private final OutboxReader reader;
    private final EventSink hub;
    private final ListenerConfig config;
    private final Clock clock;
    private final Database database;
    private final Worker readerWorker;
    /** Null in {@code POLL} mode. */
    private final Worker doorbellWorker;
    private final AtomicLong reconnects = new AtomicLong();
    /** Set by a ring, cleared by the reader just before a read starts. */
    private final AtomicBoolean rung = new AtomicBoolean();
    /** Numbers reads in the order they start. */
    private final AtomicLong readsStarted = new AtomicLong();
    /**
     * Guards {@link #position} and the hand-off to the hub; held for no I/O (in relay mode the hand-off waits for
     * the stream's acknowledgements, bounded by the publish timeout, well below the stall timeout).
     */
    private final ReentrantLock publishLock = new ReentrantLock();
    private volatile Fault fault = Fault.NONE;
    private volatile boolean started;
    /** The number of the last read that finished without error; 0 before. */
    private volatile long readDone;
    /** Whether the last read failed. */
    private volatile boolean readFailing;
    /**
     * The workers' restart counts when the reader last read / the doorbell last LISTENed: a replacement thread
     * counts as connected only once it has done so itself.
     */
    private volatile long readerRestartsAtRead = -1;
    private volatile long doorbellRestartsAtListen = -1;
    /** NOTIFY mode: LISTENing now. */
    private volatile boolean listening;
    /** NOTIFY mode: the first read that counts as catch-up for the current LISTEN. */
    private volatile long catchUpFrom = Long.MAX_VALUE;
    /**
     * The least time from the start of one read to the start of the next while rings keep coming: {@code coalesce},
     * or {@code busyCoalesce} after a read that found the outbox busy. Also the doorbell's least gap between socket
     * reads under a flood.
     */
    private volatile long spacingNanos;
    /**
     * NOTIFY mode, the reader's wish: the doorbell may stop LISTENing, as the outbox has been busy for
     * {@link #QUIET_AFTER} reads in a row and the reader reads every {@code busyCoalesce} without waiting for rings.
     */
    private volatile boolean wantQuiet;
    /** NOTIFY mode: the doorbell's connection is UNLISTENed (it LISTENs again once {@link #wantQuiet} is cleared). */
    private volatile boolean quiet;
    /**
     * NOTIFY mode: after the doorbell LISTENs again, the number of the first read that starts after it. Until that
     * read has finished the reader does not wait for rings (a commit between its last read and the LISTEN rang
     * nobody).
     */
    private volatile long heardFrom;
    private volatile long lastEventId = -1;
    private volatile long lagMillis;
    /** nanoTime of the last finished read / the last return of getNotifications. */
    private volatile long lastRead;
    private volatile long lastListen;
    private ReadPosition position;
    /** Reader thread only: the catch-up read last logged. */
    private long loggedCatchUp;
    /** Doorbell thread only: whether it has LISTENed before, and when the connection was lost. */
    private boolean listenedBefore;
    private long downSince;
    /** Reader thread only: reads in a row that found the outbox busy. */
    private int busyReads;

    public OutboxListener(Database database, OutboxReader reader, EventSink hub, ListenerConfig config, Clock clock) {
        this.database = database;
        this.reader = reader;
        this.hub = hub;
        this.config = config;
        this.clock = clock;
        this.spacingNanos = config.coalesce().toNanos();
        this.readerWorker = new Worker("outbox-reader", config.stallTimeout(), this::readLoop);
        this.doorbellWorker = config.mode() == ListenerConfig.Mode.NOTIFY
                ? new Worker("outbox-listener", config.stallTimeout(), this::listenLoop)
                : null;
    }

    /** Reads from {@code start} instead of the outbox's head: a relay leader goes on where the stream ends. */
    public OutboxListener startingAt(ReadPosition start) {
        publishLock.lock();
        try {
            this.position = start;
        } finally {
            publishLock.unlock();
        }
        return this;
    }

    public void start() {
        long now = System.nanoTime();
        lastRead = now;
        lastListen = now;
        started = true;
        readerWorker.start();
        if (doorbellWorker != null) {
            doorbellWorker.start();
        }
    }

    /** Stops both threads and releases the LISTEN connection. */
    public void stop() {
        if (!started) {
            return;
        }
        started = false;
        if (doorbellWorker != null) {
            doorbellWorker.stop(Duration.ofSeconds(5));
        }
        readerWorker.stop(Duration.ofSeconds(5));
        listening = false;
        LOG.info("outbox listener stopped");
    }

    /** The watchdog's round: replaces a listener thread that died or is stuck. */
    public void supervise() {
        readerWorker.supervise();
        if (doorbellWorker != null) {
            doorbellWorker.supervise();
        }
    }

    /**
     * True while events move: both threads alive and making progress, the last read succeeded, and in
     * {@code NOTIFY} mode the LISTEN connection is up and a read started after its LISTEN has finished.
     */
    public boolean connected() {
        if (!started || !readerWorker.healthy() || readFailing || readDone == 0
                || readerRestartsAtRead != readerWorker.restarts()) {
            return false;
        }
        if (doorbellWorker == null) {
            return true;
        }
        return doorbellWorker.healthy() && listening && doorbellRestartsAtListen == doorbellWorker.restarts()
                && readDone >= catchUpFrom;
    }

    public long reconnects() {
        return reconnects.get();
    }

    /** Listener threads started to replace a dead or stuck one. */
    public long restarts() {
        return readerWorker.restarts() + (doorbellWorker == null ? 0 : doorbellWorker.restarts());
    }

    /** The id of the last outbox row read, in read order; -1 before the first. */
    public long lastEventId() {
        return lastEventId;
    }

    /** From the last row's {@code created_at} to the moment it was read. */
    public long lagMillis() {
        return lagMillis;
    }

    /**
     * Seconds since the listener last made progress: the older of the reader's last finished read and (in
     * {@code NOTIFY} mode) the doorbell's last return from {@code getNotifications}. Below the poll interval (1 s)
     * plus a read while all is well, whether or not events are written.
     */
    public double secondsSinceProgress() {
        long oldest = doorbellWorker == null ? lastRead : Math.min(lastRead, lastListen);
        return Math.max(0, System.nanoTime() - oldest) / 1e9;
    }

    /** Test seam: the doorbell has UNLISTENed while the outbox is busy. */
    boolean quiet() {
        return quiet;
    }

    /** Test seam: reads started so far. */
    long readsStarted() {
        return readsStarted.get();
    }

    /** Test seam: {@code fault} runs at the top of every loop of both threads until replaced by {@link Fault#NONE}. */
    void injectFault(Fault fault) {
        this.fault = fault;
    }

    /**
     * Sets the flag and wakes the reader, once per read: while the flag is set the reader is already awake or
     * waiting for its next turn, so the rings of a flood (one per notification) cost an atomic read each.
     */
    private void ring() {
        if (rung.get() || rung.getAndSet(true)) {
            return;
        }
        Thread t = readerWorker.thread();
        if (t != null) {
            LockSupport.unpark(t);
        }
    }

    // ---- the reader ----

    private void readLoop(Worker.Life life) throws InterruptedException {
        boolean first = true;
        long backoff = 0;
        long lastStart = 0;
        long lastEnd = 0;
        while (life.live()) {
            life.beat();
            fault.at("outbox-reader");
            if (!first) {
                if (readFailing) {
                    TimeUnit.MILLISECONDS.sleep(backoff);
                } else {
                    awaitTurn(life, lastStart, lastEnd);
                }
            }
            first = false;
            if (!life.live()) {
                break;
            }
            rung.set(false); // before the read: a ring from now on is for a commit this read may not see
            long number = readsStarted.incrementAndGet();
            lastStart = System.nanoTime();
            try {
                int read = drain(life);
                lastRead = System.nanoTime();
                boolean busy = read >= ListenerConfig.BUSY_EVENTS;
                spacingNanos = (busy ? config.busyCoalesce() : config.coalesce()).toNanos();
                quietWhile(busy);
                readDone = number;
                readerRestartsAtRead = readerWorker.restarts();
                if (readFailing) {
                    readFailing = false;
                    backoff = 0;
                    if (doorbellWorker == null) {
                        reconnects.incrementAndGet();
                        LOG.info("outbox poller resumed; {} events caught up", read);
                    } else {
                        LOG.info("outbox reads work again; {} events caught up", read);
                    }
                } else if (number == 1 && doorbellWorker == null) {
                    LOG.info("outbox poller started; {} events caught up", read);
                }
                long catchUp = catchUpFrom;
                if (number >= catchUp && catchUp > loggedCatchUp) {
                    loggedCatchUp = catchUp;
                    LOG.info("outbox listener listening; {} events caught up", read);
                }
            } catch (SQLException | RuntimeException e) {
                if (!life.live()) {
                    break;
                }
                if (!readFailing) {
                    LOG.warn("outbox read failed, retrying: {}", e.getMessage());
                } else {
                    LOG.debug("outbox read still failing: {}", e.getMessage());
                }
                readFailing = true;
                backoff = Math.min(Math.max(50, backoff * 2), config.maxBackoff().toMillis());
            }
            lastEnd = System.nanoTime();
        }
    }

    /**
     * NOTIFY mode: while reads keep finding the outbox busy, the reader reads every {@code busyCoalesce} whether or
     * not a ring came, so the doorbell is no use: after {@link #QUIET_AFTER} busy reads in a row it UNLISTENs, which
     * spares PostgreSQL's LISTEN backend a wake-up and a message per notifying commit (~13 % of a core at 4,000
     * commits a second, docs/benchmarks.md) and the doorbell thread its reads. The first read that is not busy asks
     * it to LISTEN again.
     */
    private void quietWhile(boolean busy) {
        if (doorbellWorker == null) {
            return;
        }
        busyReads = busy ? busyReads + 1 : 0;
        boolean want = busyReads >= QUIET_AFTER;
        if (want != wantQuiet) {
            wantQuiet = want;
            Thread t = doorbellWorker.thread();
            if (t != null) {
                LockSupport.unpark(t);
            }
        }
    }

    /**
     * Whether a ring can be waited for: the doorbell LISTENs, is not asked to stop, and a read that started after
     * its last LISTEN following a quiet spell has finished.
     */
    private boolean ringsCover() {
        return !wantQuiet && !quiet && readDone >= heardFrom;
    }

    /**
     * Waits until a ring (no sooner than {@link #spacingNanos} after the last read started) or the poll tick (measured
     * from the end of the last read), whichever is first; while the doorbell is quiet, only the spacing.
     */
    private void awaitTurn(Worker.Life life, long lastStart, long lastEnd) throws InterruptedException {
        long due = lastEnd + config.pollInterval().toNanos();
        long spacing = spacingNanos;
        while (life.live()) {
            long now = System.nanoTime();
            if (rung.get() || !ringsCover()) {
                long earliest = lastStart + spacing;
                if (now >= earliest) {
                    return;
                }
                LockSupport.parkNanos(this, earliest - now);
            } else {
                if (now >= due) {
                    return;
                }
                LockSupport.parkNanos(this, due - now);
            }
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }

    /** Reads until the outbox is drained; returns the number of events read. */
    private int drain(Worker.Life life) throws SQLException {
        ReadPosition from = currentPosition();
        if (from == null) {
            ReadPosition head = reader.head();
            publishLock.lock();
            try {
                if (position == null) {
                    position = head;
                }
                from = position;
            } finally {
                publishLock.unlock();
            }
        }
        int total = 0;
        OutboxReader.Page page;
        do {
            page = reader.read(from, config.pageSize(), Set.of());
            life.beat();
            int handed = handOff(life, from, page);
            if (handed < 0) {
                throw new IllegalStateException("the read was overtaken: abandoned or replaced");
            }
            total += handed;
            if (LOG.isDebugEnabled()) {
                LOG.debug("read {} events from {} to {}", page.events().size(), from, page.next());
            }
            from = page.next();
        } while (page.full() && life.live());
        return total;
    }

    private ReadPosition currentPosition() {
        publishLock.lock();
        try {
            return position;
        } finally {
            publishLock.unlock();
        }
    }

    /**
     * The one hand-off of events to the hub, and the one place the position moves: only if this thread is still
     * the live reader and nobody moved the position since {@code from} was read from it. Returns the number of
     * events handed off, -1 when the page was discarded.
     */
    private int handOff(Worker.Life life, ReadPosition from, OutboxReader.Page page) {
        publishLock.lock();
        try {
            if (!life.live() || position != from) {
                return -1;
            }
            if (!page.events().isEmpty()) {
                hub.publish(page); // relay mode: waits for the stream's acks, bounded by its publish timeout
                OutboxEvent last = page.events().getLast();
                lastEventId = last.id();
                lagMillis = Math.max(0, clock.millis() - last.createdAtMicros() / 1000);
            }
            position = page.next();
            return page.events().size();
        } finally {
            publishLock.unlock();
        }
    }

    // ---- the doorbell ----

    private void listenLoop(Worker.Life life) throws InterruptedException {
        long backoff = 0;
        if (listening) { // the thread before this one died while listening
            listening = false;
            downSince = System.nanoTime();
        }
        while (life.live()) {
            life.beat();
            fault.at("outbox-listener");
            try {
                listen(life);
            } catch (SQLException | RuntimeException e) {
                if (!life.live()) {
                    break;
                }
                if (listening || downSince == 0) {
                    LOG.warn("outbox listener lost its connection, reconnecting: {}", e.getMessage());
                } else {
                    LOG.debug("outbox listener still cannot reconnect: {}", e.getMessage());
                }
            }
            if (listening) {
                backoff = 0; // the first attempt after a loss goes at once
                downSince = System.nanoTime();
            }
            listening = false;
            quiet = false; // a lost connection hears nothing either way; the next one LISTENs first
            if (!life.live()) {
                break;
            }
            TimeUnit.MILLISECONDS.sleep(backoff);
            backoff = Math.min(Math.max(50, backoff * 2), config.maxBackoff().toMillis());
        }
    }

    private void listen(Worker.Life life) throws SQLException, InterruptedException {
        // rings from inside pgjdbc's read as soon as bytes arrive, not only when getNotifications returns
        String socketId = "outbox-listener-" + SOCKET_IDS.incrementAndGet();
        Properties props = new Properties();
        props.setProperty("socketFactory", RingingSocketFactory.class.getName());
        props.setProperty("socketFactoryArg", socketId);
        // under a flood getNotifications does not return: while the reader wants the doorbell quiet, pgjdbc's peeks
        // between notifications end at once, so it does and the loop can UNLISTEN
        RingingSocketFactory.register(socketId, this::ring, () -> spacingNanos, () -> wantQuiet && !quiet);
        try (Connection connection = database.openListenerConnection(props);
             Statement statement = connection.createStatement()) {
            statement.execute("LISTEN " + OUTBOX_CHANNEL);
            quiet = false; // a new connection LISTENs; if the reader still wants quiet, the loop UNLISTENs
            PGConnection pg = connection.unwrap(PGConnection.class);
            if (!life.live()) {
                return;
            }
            // connected once a read that starts after this LISTEN has finished: it sees every commit whose
            // doorbell this connection did not hear
            catchUpFrom = readsStarted.get() + 1;
            doorbellRestartsAtListen = doorbellWorker.restarts();
            listening = true;
            ring();
            if (listenedBefore) {
                reconnects.incrementAndGet();
                LOG.info("outbox listener reconnected after {} ms (reconnect {})",
                         (System.nanoTime() - downSince) / 1_000_000, reconnects.get());
            }
            listenedBefore = true;
            int wait = (int) config.waitTimeout().toMillis();
            long checkEvery = config.validityCheck().toNanos();
            long lastCheck = System.nanoTime();
            while (life.live()) {
                life.beat();
                fault.at("outbox-listener");
                boolean want = wantQuiet;
                if (want != quiet) {
                    if (want) {
                        statement.execute("UNLISTEN " + OUTBOX_CHANNEL);
                        quiet = true;
                    } else {
                        statement.execute("LISTEN " + OUTBOX_CHANNEL);
                        // the reader waits for rings again once a read that starts after this LISTEN has finished
                        heardFrom = readsStarted.get() + 1;
                        quiet = false;
                        ring();
                    }
                    LOG.debug(want ? "outbox listener quiet while the outbox is busy"
                                   : "outbox listener LISTENing again: the outbox is calm");
                }
                PGNotification[] notifications;
                if (quiet) {
                    // nothing to hear; the reader unparks this thread when it wants LISTEN again
                    LockSupport.parkNanos(this, TimeUnit.MILLISECONDS.toNanos(wait));
                    notifications = pg.getNotifications(); // what came before the UNLISTEN; does not block
                } else {
                    notifications = pg.getNotifications(wait);
                }
                long now = System.nanoTime();
                lastListen = now;
                if (notifications != null && notifications.length > 0) {
                    ring();
                } else if (now - lastCheck >= checkEvery) {
                    statement.execute("SELECT 1");
                    lastCheck = now;
                }
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        } finally {
            RingingSocketFactory.unregister(socketId);
        }
    }
}
