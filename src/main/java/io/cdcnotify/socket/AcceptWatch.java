package io.cdcnotify.socket;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.function.BooleanSupplier;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks that the server still accepts connections, by connecting to its own port now and then; when it has
 * stopped, the process exits for its supervisor to restart it.
 *
 * <p>Helidon 4.5 ends a listener's accept loop for good at the first {@code accept} that fails ("Too many open
 * files", "this server socket is terminating now"): it closes the listening socket, and its own stop then waits on
 * itself, so nothing else of the service hears of it. The process would run on and serve nothing, {@code /health}
 * included. {@link ConnectionCap} keeps the open-file case away; this watch catches the rest. A connection over the
 * server's cap still counts as accepted: the kernel completes it in the listen backlog.
 */
public final class AcceptWatch {

    private static final Logger LOG = LoggerFactory.getLogger(AcceptWatch.class);
    /** How long one check's connect may take; a server under load answers from the kernel's backlog at once. */
    private static final int CONNECT_TIMEOUT_MILLIS = 2_000;
    /** Failed checks in a row before the process exits: one refusal can be a restart of the network stack. */
    static final int FAILURES_TO_EXIT = 2;

    private final InetSocketAddress self;
    private final Duration every;
    private final BooleanSupplier stopping;
    private final Runnable exit;

    /**
     * @param self     the server's own address (a wildcard bind address is checked on the loopback)
     * @param stopping true once the service is being stopped: then a refusal is expected
     * @param exit     what ends the process
     */
    public AcceptWatch(InetSocketAddress self, Duration every, BooleanSupplier stopping, Runnable exit) {
        this.self = self.getAddress() == null || self.getAddress().isAnyLocalAddress()
                ? new InetSocketAddress(InetAddress.getLoopbackAddress(), self.getPort()) : self;
        this.every = every;
        this.stopping = stopping;
        this.exit = exit;
    }

    /** Starts the watch on a virtual thread of its own. */
    public Thread start() {
        return Thread.ofVirtual().name("cdc-accept-watch").start(this::run);
    }

    private void run() {
        int failures = 0;
        while (!stopping.getAsBoolean()) {
            try {
                Thread.sleep(every);
            } catch (InterruptedException e) {
                return;
            }
            IOException refused = accepting();
            failures = refused == null ? 0 : failures + 1;
            if (failures >= FAILURES_TO_EXIT && !stopping.getAsBoolean()) {
                LOG.error("the server no longer accepts connections on {} ({}): exiting so that a supervisor "
                          + "restarts the service", self, refused.toString());
                exit.run();
                return;
            }
        }
    }

    /** Null if a connection to the server's port was made (and closed at once), else why not. */
    IOException accepting() {
        try (Socket socket = new Socket()) {
            socket.connect(self, CONNECT_TIMEOUT_MILLIS);
            return null;
        } catch (IOException e) {
            return e;
        }
    }
}
