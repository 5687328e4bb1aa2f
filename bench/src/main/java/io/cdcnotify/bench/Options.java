package io.cdcnotify.bench;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The driver's command line: {@code --name value} pairs, each with a default; unknown names are an error. */
final class Options {

    private static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

    static {
        DEFAULTS.put("label", "");                 // a name for the run, copied into the report
        DEFAULTS.put("url", "http://127.0.0.1:8080"); // several instances: comma-separated, clients spread over them
        DEFAULTS.put("db", "jdbc:postgresql://127.0.0.1:5432/postgres");
        DEFAULTS.put("db-user", "postgres");
        DEFAULTS.put("db-password", "");
        DEFAULTS.put("admin-key", "");
        DEFAULTS.put("ws", "500");                 // WebSocket clients
        DEFAULTS.put("sse", "500");                // SSE clients
        DEFAULTS.put("tables", "100");             // clients spread round-robin over bench_t0..bench_t<n-1>
        DEFAULTS.put("table-prefix", "bench_t");
        DEFAULTS.put("rate", "1000");              // events/s written; 0 = as fast as the writers can
        DEFAULTS.put("batch", "1");                // rows per transaction
        DEFAULTS.put("writers", "4");              // JDBC connections writing
        DEFAULTS.put("sync-commit", "on");         // the writer sessions' synchronous_commit (off: no WAL flush wait)
        DEFAULTS.put("payload-bytes", "0");        // extra padding in each payload
        DEFAULTS.put("filter-fraction", "0");      // this fraction of the clients subscribe with a filter (ClientFilter)
        DEFAULTS.put("filter-share", "0.1");       // the share of their table's events such a filter matches
        DEFAULTS.put("warmup", "10");              // seconds written before the measured window
        DEFAULTS.put("duration", "30");            // seconds measured (connections mode: seconds held)
        DEFAULTS.put("drain", "10");               // at most this many seconds after the writer stops for late events
        DEFAULTS.put("server-pid", "0");           // the service's pid(s), comma-separated: CPU and RSS (summed), heap
        DEFAULTS.put("io-threads", "2");           // HttpClient executor threads per transport (jdk clients only)
        DEFAULTS.put("ws-client", "nio");          // WebSocket clients: nio (raw NIO, NioWsClients) or jdk (java.net.http, WsClients)
        DEFAULTS.put("ws-selectors", "1");         // selector threads the WebSocket clients share (jdk: one HttpClient each)
        DEFAULTS.put("sse-client", "nio");         // SSE clients: nio (raw NIO, NioSseClients) or jdk (java.net.http, SseClients)
        DEFAULTS.put("sse-selectors", "1");        // selector threads the SSE clients share (nio only)
        DEFAULTS.put("connect-concurrency", "200");// handshakes in flight at once
        DEFAULTS.put("connect-timeout", "180");    // seconds for all clients to be subscribed
        DEFAULTS.put("settle", "0");               // connections mode: seconds the idle service is left before its baseline reading
        DEFAULTS.put("open-gc", "true");           // connections mode: right after the storm, a full GC for the live heap and the class histogram; false: none until the end of the hold, so rss_end_kb is what the service keeps by itself
        DEFAULTS.put("warmup-connections", "0");   // connections mode: open and close this many of each asked kind first
        DEFAULTS.put("out", "");                   // file the JSON line is appended to
        DEFAULTS.put("events-out", "");            // load mode: a CSV of each measured event (commit wall-clock ms, commit->first and ->last µs)
    }

    private final Map<String, String> values = new LinkedHashMap<>(DEFAULTS);

    Options(List<String> args) {
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("expected --name value, got " + a);
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.size()) {
                    throw new IllegalArgumentException("--" + name + " needs a value");
                }
                value = args.get(++i);
            }
            if (!DEFAULTS.containsKey(name)) {
                throw new IllegalArgumentException("unknown option --" + name + "; known: " + DEFAULTS.keySet());
            }
            if ((name.equals("ws-client") || name.equals("sse-client")) && !value.equals("nio") && !value.equals("jdk")) {
                throw new IllegalArgumentException("--" + name + " is nio or jdk, got " + value);
            }
            values.put(name, value);
        }
    }

    String str(String name) {
        return values.get(name);
    }

    int integer(String name) {
        return Integer.parseInt(values.get(name));
    }

    long longValue(String name) {
        return Long.parseLong(values.get(name));
    }

    double decimal(String name) {
        return Double.parseDouble(values.get(name));
    }

    /** All options, for the report (the admin key and password left out). */
    Map<String, Object> asReport() {
        Map<String, Object> m = new LinkedHashMap<>();
        values.forEach((k, v) -> {
            if (k.equals("admin-key") || k.equals("db-password") || k.equals("out")) {
                return;
            }
            m.put(k, v.matches("-?\\d+") && v.length() < 18 ? (Object) Long.parseLong(v)
                    : v.matches("-?\\d*\\.\\d+") ? (Object) Double.parseDouble(v) : v);
        });
        return m;
    }

    static String usage() {
        StringBuilder s = new StringBuilder("""
                usage: java -jar cdc-bench.jar load|connections [--name value ...]
                       java -jar cdc-bench.jar jmh [JMH options]
                       java -jar cdc-bench.jar plot [--in results.jsonl]... [--out file.png]
                                                    [--series NAME=LABEL_PREFIX]... [--latency total] [--title T]
                options (default):
                """);
        DEFAULTS.forEach((k, v) -> s.append("  --").append(k).append(" (").append(v).append(")\n"));
        return s.toString();
    }
}
