package io.cdcnotify.socket;

import java.lang.management.ManagementFactory;
import java.util.OptionalInt;

import com.sun.management.UnixOperatingSystemMXBean;

/**
 * How many TCP connections the server holds at once when {@code server.max-tcp-connections} is not set: what the
 * process's open-file limit leaves over the files it has open, less a margin.
 *
 * <p>Without a cap, Helidon 4.5's accept loop ends for good at the first {@code accept} that fails with "Too many
 * open files" ("this server socket is terminating now"): a client opening sockets until the limit would leave a
 * process that runs and serves its open connections but never accepts another, {@code /health} included. With the
 * cap, a connection over it waits in the listen backlog (in the kernel, with no file of ours) until one closes, and
 * the process keeps the files it needs for its database connections, NATS, logs and class loading.
 */
public final class ConnectionCap {

    /**
     * Files kept for the process's own use over those open when the cap is taken: the database pool and the
     * LISTEN connection as they open, NATS, log files, jars opened late, a heap dump.
     */
    static final int MARGIN = 256;
    /** The least cap: a limit that leaves less than this has no room for clients anyway. */
    static final int FLOOR = 16;

    private ConnectionCap() {
    }

    /** The cap from this process's open-file limit, or empty where the JVM does not tell it (not Unix). */
    public static OptionalInt fromOpenFileLimit() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof UnixOperatingSystemMXBean unix) {
            return OptionalInt.of(cap(unix.getMaxFileDescriptorCount(), unix.getOpenFileDescriptorCount()));
        }
        return OptionalInt.empty();
    }

    /** The cap for a process allowed {@code maxFiles} open files with {@code openFiles} of them open now. */
    static int cap(long maxFiles, long openFiles) {
        long room = maxFiles - openFiles - MARGIN;
        return (int) Math.max(FLOOR, Math.min(Integer.MAX_VALUE, room));
    }
}
