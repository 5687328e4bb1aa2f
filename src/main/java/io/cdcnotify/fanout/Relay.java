package io.cdcnotify.fanout;

import java.io.IOException;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

import io.cdcnotify.config.FanoutConfig;
import io.cdcnotify.listen.EventSink;
import io.cdcnotify.listen.OutboxListener;
import io.cdcnotify.outbox.OutboxEvent;
import io.cdcnotify.outbox.OutboxReader;
import io.cdcnotify.outbox.ReadPosition;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamManagement;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.MessageInfo;
import io.nats.client.api.StorageType;
import io.nats.client.api.StreamConfiguration;
import io.nats.client.api.StreamInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Relay mode: one instance at a time reads the outbox and publishes every event to a JetStream stream; every
 * instance, that one included, feeds its hub from the stream. The database's read work stays that of one
 * reader however many instances run.
 *
 * <p>One named virtual thread ({@code fanout-relay}) does all the deciding, four times a second: it tries for
 * the leadership lock about once a second while this instance can reach NATS; as leader it checks the lock,
 * gives it up when NATS is unreachable, and, whenever its publisher is spent (a refused or failed publish),
 * starts a new outbox listener from the position in the stream's last message. It also watches for a
 * partition: cut off from NATS, the instance reports DOWN at once and, after {@code partitionClose}, closes its
 * clients with their cursors so they resume elsewhere.
 */
public final class Relay {

    private static final Logger LOG = LoggerFactory.getLogger(Relay.class);
    private static final long TICK_MILLIS = 250;
    private static final long STALL_NANOS = TimeUnit.SECONDS.toNanos(3);
    /** {@code application_name} of the leadership lock's connection in {@code pg_stat_activity}. */
    public static final String LOCK_APPLICATION_NAME = Leadership.APPLICATION_NAME;

    /** Opens a dedicated database connection for the leadership lock. */
    public interface LockConnection {
        java.sql.Connection open() throws SQLException;
    }

    /** What the relay hands over to the rest of the service. */
    public interface Hooks {
        /** Routes events to this instance's clients (the hub). */
        void publish(List<OutboxEvent> events);

        /** Closes every client after what it has queued, with its cursor: they resume elsewhere. */
        void closeClients();
    }

    private final FanoutConfig config;
    private final Connection nats;
    private final JetStreamManagement management;
    private final Subjects subjects;
    private final Leadership leadership;
    private final OutboxReader reader;
    private final Function<EventSink, OutboxListener> listeners;
    private final Hooks hooks;
    private final StreamConsumer consumer;
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong reconnects;
    private volatile boolean running;
    private volatile Thread thread;
    private volatile boolean leading;
    private volatile OutboxListener listener;
    private volatile StreamPublisher publisher;
    private volatile long streamLastSequence;
    private long downSince;
    private volatile long lastTick = System.nanoTime();
    private long consumerReconnects;
    private boolean closedForPartition;

    private Relay(FanoutConfig config, Connection nats, AtomicLong reconnects, Leadership leadership,
                  OutboxReader reader, Function<EventSink, OutboxListener> listeners, Hooks hooks, Clock clock)
            throws IOException {
        this.config = config;
        this.reconnects = reconnects;
        this.nats = nats;
        this.management = nats.jetStreamManagement();
        this.subjects = new Subjects(config.subjectPrefix());
        this.leadership = leadership;
        this.reader = reader;
        this.listeners = listeners;
        this.hooks = hooks;
        this.consumer = new StreamConsumer(nats, config.stream(), subjects, hooks::publish, this::gap, clock);
    }

    /**
     * Connects to NATS and makes sure the stream exists.
     *
     * @param connector  opens a dedicated connection for the leadership lock
     * @param listeners  makes an outbox listener that hands its pages to the given sink
     * @throws IllegalStateException when NATS cannot be reached or the stream cannot be made, with a message
     *                               that says what to do
     */
    public static Relay connect(FanoutConfig config, LockConnection connector, OutboxReader reader,
                                Function<EventSink, OutboxListener> listeners, Hooks hooks, Clock clock) {
        Connection nats = null;
        try {
            AtomicLong reconnects = new AtomicLong();
            java.util.concurrent.atomic.AtomicBoolean down = new java.util.concurrent.atomic.AtomicBoolean();
            Options options = Options.builder()
                    .server(config.natsUrl())
                    .connectionName("cdc-notify")
                    .connectionTimeout(Duration.ofSeconds(3))
                    .maxReconnects(-1)
                    .reconnectWait(Duration.ofMillis(250))
                    .reconnectBufferSize(0) // no publish held back through a reconnect: a spent leader's stays dead
                    .connectionListener((conn, event) -> {
                        if (event == ConnectionListener.Events.RECONNECTED) {
                            reconnects.incrementAndGet();
                            down.set(false);
                            LOG.info("reconnected to NATS");
                        } else if (event == ConnectionListener.Events.DISCONNECTED && down.compareAndSet(false, true)) {
                            LOG.warn("lost the connection to NATS; reconnecting");
                        }
                    })
                    .build();
            nats = Nats.connect(options);
            Relay relay = new Relay(config, nats, reconnects, new Leadership(connector, config.lockKey()), reader,
                                    listeners, hooks, clock);
            relay.ensureStream();
            return relay;
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            closeQuietly(nats);
            throw new IllegalStateException("relay mode needs NATS JetStream at " + redacted(config.natsUrl()) + ", which "
                                                    + "cannot be used (" + redacted(String.valueOf(e.getMessage())) + "): start NATS with "
                                                    + "JetStream (nats-server -js), or set CDC_FANOUT=database", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            closeQuietly(nats);
            throw new IllegalStateException("interrupted while connecting to NATS", e);
        }
    }

    private void ensureStream() throws IOException, JetStreamApiException {
        StreamConfiguration wanted = StreamConfiguration.builder()
                .name(config.stream())
                .subjects(subjects.all())
                .storageType(StorageType.File)
                .maxAge(config.maxAge())
                .duplicateWindow(config.duplicateWindow())
                .build();
        try {
            StreamInfo info = management.getStreamInfo(config.stream());
            LOG.info("relay stream {} holds {} events (sequence {} to {})", config.stream(),
                     info.getStreamState().getMsgCount(), info.getStreamState().getFirstSequence(),
                     info.getStreamState().getLastSequence());
            if (!info.getConfiguration().getSubjects().contains(subjects.all())) {
                throw new IllegalStateException("stream " + config.stream() + " exists with subjects "
                                                        + info.getConfiguration().getSubjects() + ", not " + subjects.all());
            }
        } catch (JetStreamApiException e) {
            if (e.getErrorCode() != 404) {
                throw e;
            }
            try {
                management.addStream(wanted);
                LOG.info("created relay stream {} on {}", config.stream(), subjects.all());
            } catch (JetStreamApiException raced) {
                management.getStreamInfo(config.stream()); // another instance made it meanwhile
            }
        }
    }

    /** Starts consuming at the stream's end, and the thread that leads or follows. */
    public void start() {
        try {
            long last = management.getStreamInfo(config.stream()).getStreamState().getLastSequence();
            streamLastSequence = last;
            consumer.start(last);
        } catch (Exception e) {
            throw new IllegalStateException("cannot consume relay stream " + config.stream() + ": " + e.getMessage(), e);
        }
        running = true;
        thread = Thread.ofVirtual().name("fanout-relay").start(this::run);
    }

    /** Stops leading (the lock goes at once, so another instance takes over) and consuming, then disconnects. */
    public void stop() {
        running = false;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        consumer.stop();
        closeQuietly(nats);
    }

    private void run() {
        long nextTry = 0;
        long nextInfo = 0;
        while (running) {
            try {
                long now = System.nanoTime();
                lastTick = now;
                boolean natsUp = nats.getStatus() == Connection.Status.CONNECTED;
                watchPartition(natsUp, now);
                if (leading) {
                    lead(natsUp);
                } else if (natsUp && now - nextTry >= 0) {
                    nextTry = now + TimeUnit.SECONDS.toNanos(1);
                    if (leadership.tryAcquire()) {
                        leading = true;
                        LOG.info("this instance leads the relay: it reads the outbox and publishes to {}", config.stream());
                        startPublishing();
                    }
                }
                if (natsUp && now - nextInfo >= 0) {
                    nextInfo = now + TimeUnit.SECONDS.toNanos(1);
                    streamLastSequence = management.getStreamInfo(config.stream()).getStreamState().getLastSequence();
                    watchConsumer(now);
                }
            } catch (Exception e) {
                LOG.debug("relay tick failed: {}", e.getMessage());
            }
            try {
                TimeUnit.MILLISECONDS.sleep(TICK_MILLIS);
            } catch (InterruptedException e) {
                break;
            }
        }
        resign();
    }

    private void lead(boolean natsUp) {
        if (!natsUp) {
            LOG.warn("the relay leader cannot reach NATS: giving up leadership");
            resign();
            return;
        }
        if (!leadership.stillHeld()) {
            resign();
            return;
        }
        StreamPublisher p = publisher;
        if (p == null || p.spent()) {
            startPublishing();
            return;
        }
        OutboxListener l = listener;
        if (l != null) {
            l.supervise(); // the watchdog's round for the leader's listener: a dead or stuck thread is replaced
        }
    }

    /** Reads the stream's last event's position and starts a listener there; on failure the next tick retries. */
    private void startPublishing() {
        stopListener();
        try {
            StreamInfo info = management.getStreamInfo(config.stream());
            long last = info.getStreamState().getLastSequence();
            ReadPosition from;
            String lastId = null;
            if (info.getStreamState().getMsgCount() == 0) {
                from = reader.head();
                if (last > 0) {
                    LOG.warn("relay stream {} holds no events (max age {}): reading on from the outbox's head; events "
                                     + "committed while no leader ran reach clients only when they resume",
                             config.stream(), config.maxAge());
                }
            } else {
                MessageInfo message = management.getMessage(config.stream(), last);
                String text = message.getHeaders() == null ? null : message.getHeaders().getFirst(StreamPublisher.POSITION);
                lastId = message.getHeaders() == null ? null : message.getHeaders().getFirst("Nats-Msg-Id");
                from = ReadPosition.decode(text).orElseThrow(() -> new IllegalStateException(
                        "the last message of stream " + config.stream() + " carries no reader position"));
            }
            StreamPublisher next = new StreamPublisher(nats.jetStream(), config.stream(), subjects, last, lastId,
                                                       config.publishTimeout(), published, consumer::fedByLeader);
            OutboxListener l = listeners.apply(next).startingAt(from);
            publisher = next;
            listener = l;
            l.start();
            LOG.info("relay leader publishing after stream sequence {}, from {}", last, from);
        } catch (IOException | JetStreamApiException | SQLException | RuntimeException e) {
            LOG.warn("relay leader cannot start publishing yet: {}", e.getMessage());
        }
    }

    /** Stops reading, then frees the lock: another instance never reads while this one still does. */
    private void resign() {
        StreamPublisher p = publisher;
        if (p != null) {
            p.spend();
        }
        boolean was = leading;
        leading = false;
        stopListener();
        leadership.release();
        if (was) {
            LOG.info("this instance no longer leads the relay");
        }
    }

    private void stopListener() {
        StreamPublisher p = publisher;
        if (p != null) {
            p.spend();
        }
        OutboxListener l = listener;
        listener = null;
        publisher = null;
        if (l != null) {
            l.stop();
        }
    }

    /**
     * After a reconnect, or when the stream holds more than this instance has fed for a while, the consumer
     * starts again after the last sequence it fed: it never silently stalls.
     */
    private void watchConsumer(long now) throws Exception {
        long seenReconnects = reconnects.get();
        boolean reconnected = seenReconnects != consumerReconnects;
        boolean stalled = consumerLag() > 0 && now - consumer.lastProgress() > STALL_NANOS;
        if (reconnected || stalled) {
            if (stalled && !reconnected) {
                LOG.warn("relay consumer made no progress for {} ms with {} messages waiting: restarting it",
                         TimeUnit.NANOSECONDS.toMillis(now - consumer.lastProgress()), consumerLag());
            }
            consumer.restart();
            consumerReconnects = seenReconnects;
        }
    }

    private void watchPartition(boolean natsUp, long now) {
        if (natsUp) {
            downSince = 0;
            closedForPartition = false;
            return;
        }
        if (downSince == 0) {
            downSince = now;
        } else if (!closedForPartition && now - downSince >= config.partitionClose().toNanos()) {
            closedForPartition = true;
            LOG.warn("cut off from NATS for {}: closing this instance's clients with their cursors", config.partitionClose());
            hooks.closeClients();
        }
    }

    /** The stream lost what this instance had not fed yet: its clients resume from the outbox with their cursors. */
    private void gap() {
        hooks.closeClients();
    }

    /** The URL without its user and password, for messages and logs. */
    static String redacted(String urls) {
        return urls.replaceAll("://[^/@,]*@", "://***@");
    }

    private static void closeQuietly(Connection nats) {
        if (nats == null) {
            return;
        }
        try {
            nats.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- what the service reports ----

    /** True when this instance delivers what the stream holds: connected to NATS, and as leader, reading. */
    public boolean healthy() {
        if (!running || nats.getStatus() != Connection.Status.CONNECTED) {
            return false;
        }
        if (!leading) {
            return true;
        }
        OutboxListener l = listener;
        return l != null && l.connected();
    }

    public boolean leader() {
        return leading;
    }

    /**
     * For {@code cdc_listener_last_progress_seconds}: on the leader, its outbox listener's; on a follower, the
     * time since the relay thread's last round.
     */
    public double secondsSinceProgress() {
        OutboxListener l = listener;
        if (leading && l != null) {
            return l.secondsSinceProgress();
        }
        return Math.max(0, System.nanoTime() - lastTick) / 1e9;
    }

    public String stream() {
        return config.stream();
    }

    /** The stream's last sequence, as of the last second. */
    public long streamLastSequence() {
        return Math.max(streamLastSequence, consumer.lastSequence());
    }

    /** The stream sequence of the last event this instance fed its hub. */
    public long consumedSequence() {
        return consumer.lastSequence();
    }

    public long consumerLag() {
        return Math.max(0, streamLastSequence() - consumer.lastSequence());
    }

    public long published() {
        return published.get();
    }

    /** Reconnections to NATS since start. */
    public long reconnects() {
        return reconnects.get();
    }

    public long lastEventId() {
        return consumer.lastEventId();
    }

    public long lagMillis() {
        return consumer.lagMillis();
    }
}
