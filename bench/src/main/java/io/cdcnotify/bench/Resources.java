package io.cdcnotify.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * CPU and memory of the three parties on the machine: this driver (its own JVM), the service (from
 * {@code /proc/<pid>}), and PostgreSQL (every process named {@code postgres}, grouped by who its backend
 * serves, from {@code pg_stat_activity}).
 */
final class Resources {

    /** Clock ticks per second of {@code /proc/<pid>/stat}: USER_HZ, 100 on Linux/x86-64. */
    private static final double TICKS = 100.0;
    private static final Pattern HEAP_USED = Pattern.compile("used (\\d+)K");

    private Resources() {
    }

    /** CPU seconds this JVM has used. */
    static double driverCpuSeconds() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime() / 1e9;
        }
        return ProcessHandle.current().info().totalCpuDuration().map(d -> d.toNanos() / 1e9).orElse(0.0);
    }

    /** utime + stime of a process, seconds; -1 when it cannot be read. */
    static double cpuSeconds(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // the command name (field 2) may hold spaces: fields are counted after its closing parenthesis
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / TICKS;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** A field of {@code /proc/<pid>/status} in kB ({@code VmRSS}, {@code VmHWM}), or -1. */
    static long statusKb(long pid, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // gone
        }
        return -1;
    }

    static long threads(long pid) {
        return statusKb(pid, "Threads");
    }

    /** Busy CPU seconds of the whole machine (all cores: user, nice, system, irq, softirq, steal) since boot. */
    static double machineBusySeconds() {
        try {
            String line = Files.readAllLines(Path.of("/proc/stat")).getFirst();
            String[] f = line.trim().split("\\s+");
            long busy = 0;
            for (int i = 1; i < f.length && i <= 8; i++) {
                if (i != 4 && i != 5) { // idle, iowait
                    busy += Long.parseLong(f[i]);
                }
            }
            return busy / TICKS;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** CPU seconds of every process named {@code comm} together; -1 when there is none. */
    static double processCpu(String comm) {
        double total = -1;
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) procs::iterator) {
                if (!p.getFileName().toString().chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    if (Files.readString(p.resolve("comm")).trim().equals(comm)) {
                        double s = cpuSeconds(Long.parseLong(p.getFileName().toString()));
                        total = Math.max(total, 0) + Math.max(s, 0);
                    }
                } catch (IOException | RuntimeException e) {
                    // exited meanwhile
                }
            }
        } catch (IOException e) {
            // no /proc
        }
        return total;
    }

    /**
     * Index and sequential scans of {@code cdc.outbox} so far ({@code pg_stat_user_tables} of the monitor's
     * database): each outbox read by a service instance is one index scan. Null when they cannot be read.
     */
    static long[] outboxScans(Connection monitor) {
        try (Statement st = monitor.createStatement();
             ResultSet rs = st.executeQuery("SELECT coalesce(idx_scan, 0), coalesce(seq_scan, 0) FROM pg_stat_user_tables "
                                            + "WHERE schemaname = 'cdc' AND relname = 'outbox'")) {
            return rs.next() ? new long[] {rs.getLong(1), rs.getLong(2)} : null;
        } catch (SQLException e) {
            return null;
        }
    }

    /** CPU seconds of every process named {@code postgres}, by pid. */
    static Map<Long, Double> postgresCpu() {
        Map<Long, Double> cpu = new HashMap<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).forEach(p -> {
                try {
                    if (Files.readString(p.resolve("comm")).trim().equals("postgres")) {
                        long pid = Long.parseLong(p.getFileName().toString());
                        double s = cpuSeconds(pid);
                        if (s >= 0) {
                            cpu.put(pid, s);
                        }
                    }
                } catch (IOException | RuntimeException e) {
                    // exited meanwhile
                }
            });
        } catch (IOException e) {
            // no /proc
        }
        return cpu;
    }

    /**
     * Who each PostgreSQL backend serves: {@code service} (application_name cdc-notify*), {@code writer}
     * (cdc-bench-writer), {@code elsewhere} (a backend connected to another database: other sessions' tests on
     * the same server; reported, not counted in {@code total}), anything else {@code other} (background
     * processes such as the WAL writer and checkpointer, this monitor, pgbench...).
     */
    static Map<Long, String> postgresRoles(Connection monitor) {
        Map<Long, String> roles = new HashMap<>();
        try (Statement st = monitor.createStatement();
             ResultSet rs = st.executeQuery("SELECT pid, coalesce(application_name, ''), "
                                            + "datname IS NOT NULL AND datname <> current_database() FROM pg_stat_activity")) {
            while (rs.next()) {
                String app = rs.getString(2);
                roles.put(rs.getLong(1), rs.getBoolean(3) ? "elsewhere" : app.startsWith("cdc-notify") ? "service"
                        : app.equals("cdc-bench-writer") ? "writer" : "other");
            }
        } catch (SQLException e) {
            // report everything as other
        }
        return roles;
    }

    /** CPU seconds used between two {@link #postgresCpu()} samples, by role, plus {@code total}. */
    static Map<String, Double> postgresDelta(Map<Long, Double> before, Map<Long, Double> after, Map<Long, String> roles) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String r : List.of("service", "writer", "other", "total", "elsewhere")) {
            out.put(r, 0.0);
        }
        after.forEach((pid, s) -> {
            double d = s - before.getOrDefault(pid, 0.0);
            String role = roles.getOrDefault(pid, "other");
            out.merge(role, d, Double::sum);
            if (!role.equals("elsewhere")) {
                out.merge("total", d, Double::sum);
            }
        });
        return out;
    }

    /**
     * The service's used heap in kB from {@code jcmd <pid> GC.heap_info}, after a full GC when {@code gcFirst}
     * (so it counts live objects only); -1 when jcmd fails.
     */
    static long heapUsedKb(long pid, boolean gcFirst) {
        if (gcFirst) {
            jcmd(pid, "GC.run");
        }
        String out = jcmd(pid, "GC.heap_info");
        Matcher m = HEAP_USED.matcher(out);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    /** The top of {@code jcmd <pid> GC.class_histogram} (live objects: it runs a full GC): class, instances, bytes. */
    static List<String> classHistogram(long pid, int top) {
        return jcmd(pid, "GC.class_histogram").lines()
                .filter(l -> l.matches("\\s*\\d+:.*"))
                .limit(top)
                .map(l -> l.trim().replaceAll("\\s+", " "))
                .toList();
    }

    private static String jcmd(long pid, String command) {
        String javaHome = System.getProperty("java.home");
        Path jcmd = Path.of(javaHome, "bin", "jcmd");
        try {
            Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command)
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor(60, TimeUnit.SECONDS);
            return out;
        } catch (IOException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        }
    }
}
