package io.cdcnotify.hostile;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;


import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.cdcnotify.testing.TestDatabase;

/**
 * The service in a child JVM, as operators run it: its own small heap, {@code -XX:+ExitOnOutOfMemoryError}, the
 * production {@code logback.xml} (JSON lines on stdout, captured to a file), configured by the contract's
 * environment variables. A hostile client cannot take the test JVM down with it, and the heap it is allowed is
 * the one we measure.
 *
 * <p>The child runs {@code io.cdcnotify.Main} from {@code target/classes} and the test JVM's class path (the
 * jar is built only in {@code package}, after surefire runs). Its heap is read with {@code jcmd}: the live objects
 * after a full collection, counted in the same safepoint, so what is measured is what the service holds.
 */
final class ChildService implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("listening on port (\\d+)");
    /** The last line of {@code GC.class_histogram}: {@code Total <instances> <bytes>}. */
    private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("(?m)^Total\\s+\\d+\\s+(\\d+)\\s*$");
    private static final Pattern MAX_HEAP = Pattern.compile("MaxHeapSize=(\\d+)");
    /** Generous: a child starting beside a full test run on a busy 2-core machine has taken over 60 s. */
    private static final Duration START = Duration.ofSeconds(150);

    /** A random admin key for this child; never printed. */
    final String adminKey;

    private final Process process;
    private final Path stdout;
    private final Path stderr;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();
    private int port;

    /** An API key: its id and its plaintext, which {@link #toString()} hides. */
    record Key(String id, String secret) {
        @Override
        public String toString() {
            return "Key[" + id + "]";
        }
    }

    private ChildService(Process process, String adminKey, Path stdout, Path stderr) {
        this.process = process;
        this.adminKey = adminKey;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    /**
     * Starts the service and waits until {@code /health} answers 200.
     *
     * @param maxHeap  e.g. {@code 128m}
     * @param settings configuration keys for settings without an environment variable (system properties of
     *                 the child, which the service's configuration reads)
     */
    static ChildService start(TestDatabase db, Class<?> owner, String maxHeap, Map<String, String> settings) {
        return start(db, owner, maxHeap, settings, "io.cdcnotify.Main");
    }

    /**
     * Starts {@code mainClass} instead of {@code io.cdcnotify.Main}: a launcher from the test classes (they are
     * on the child's class path then; the production logback.xml still wins over logback-test.xml).
     */
    static ChildService start(TestDatabase db, Class<?> owner, String maxHeap, Map<String, String> settings,
                              String mainClass) {
        return start(db, owner, maxHeap, settings, mainClass, List.of());
    }

    /**
     * Starts {@code mainClass} through {@code launcher}: a command the java command line is appended to, such as
     * {@code prlimit --nofile=600:600 --} for a low open-file limit.
     */
    static ChildService start(TestDatabase db, Class<?> owner, String maxHeap, Map<String, String> settings,
                              String mainClass, List<String> launcher) {
        boolean testClasses = !"io.cdcnotify.Main".equals(mainClass);
        List<String> command = new ArrayList<>(launcher);
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("-Xmx" + maxHeap);
        command.add("-XX:+ExitOnOutOfMemoryError");
        command.add("-Dlogback.configurationFile=" + productionLogback());
        settings.forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.add("-cp");
        command.add(serviceClassPath(testClasses));
        command.add(mainClass);
        try {
            Path dir = Files.createDirectories(Path.of("target", "hostile"));
            String stem = owner.getSimpleName() + "-" + System.currentTimeMillis();
            Path out = dir.resolve(stem + ".log");
            Path err = dir.resolve(stem + ".err");
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            Map<String, String> env = builder.environment();
            env.put("DB_URL", db.url());
            env.put("DB_USER", db.user());
            env.put("DB_PASSWORD", db.password());
            env.put("SERVER_PORT", "0");
            env.put("SERVER_HOST", "127.0.0.1");
            env.put("CDC_LOG_LEVEL", "INFO");
            String adminKey = "hostile-admin-" + HexFormat.of().formatHex(randomBytes(12));
            env.put("CDC_ADMIN_KEY", adminKey);
            ChildService child = new ChildService(builder.start(), adminKey, out, err);
            // a test JVM that ends (or is killed by a timeout) takes its children with it
            Runtime.getRuntime().addShutdownHook(new Thread(child.process::destroyForcibly));
            try {
                child.awaitStarted();
            } catch (RuntimeException | AssertionError e) {
                child.close();
                throw e;
            }
            return child;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void awaitStarted() {
        long deadline = System.nanoTime() + START.toNanos();
        while (port == 0) {
            if (!process.isAlive()) {
                throw new AssertionError("the service exited with " + process.exitValue() + " before it listened:\n"
                                                 + tail());
            }
            if (System.nanoTime() > deadline) {
                close();
                throw new AssertionError("the service did not listen within " + START + ":\n" + tail());
            }
            for (String line : stdoutLines()) {
                Matcher m = LISTENING.matcher(line);
                if (m.find()) {
                    port = Integer.parseInt(m.group(1));
                }
            }
            pause(100);
        }
        awaitHealthy(Duration.ofSeconds(30));
    }

    /** Waits until {@code GET /health} answers 200 UP. */
    void awaitHealthy(Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            assertAlive();
            Answer r = tryGet("/health");
            if (r != null && r.statusCode() == 200) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("/health not 200 within " + wait + ": "
                                                 + (r == null ? "no answer" : r.statusCode() + " " + r.body()));
            }
            pause(100);
        }
    }

    /** The service's {@code /health} now: 200 with status UP, and the process is alive. */
    void assertHealthy() {
        assertAlive();
        Answer r = get("/health", null);
        if (r.statusCode() != 200 || !"UP".equals(json(r.body()).path("status").asText())) {
            throw new AssertionError("/health is not 200 UP: " + r.statusCode() + " " + r.body());
        }
    }

    void assertAlive() {
        if (!process.isAlive()) {
            throw new AssertionError("the service exited with " + process.exitValue() + ":\n" + tail());
        }
    }

    boolean alive() {
        return process.isAlive();
    }

    /** Waits up to {@code wait} for the process to end: its exit status, or empty if it still runs. */
    java.util.OptionalInt awaitExit(Duration wait) throws InterruptedException {
        return process.waitFor(wait.toMillis(), TimeUnit.MILLISECONDS) ? java.util.OptionalInt.of(process.exitValue())
                                                                       : java.util.OptionalInt.empty();
    }

    long pid() {
        return process.pid();
    }

    int port() {
        return port;
    }

    URI http(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + port + pathAndQuery);
    }

    URI ws(String pathAndQuery) {
        return URI.create("ws://127.0.0.1:" + port + pathAndQuery);
    }

    /** Writes one line to the child's stdin (commands for a launcher such as {@link FaultInjectingMain}). */
    void command(String line) {
        try {
            process.getOutputStream().write((line + "\n").getBytes(StandardCharsets.UTF_8));
            process.getOutputStream().flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ---- REST

    /** An HTTP answer: its status and body ({@code "(an event stream)"} for an SSE stream, which is not read). */
    record Answer(int statusCode, String body) {
    }

    Answer get(String path, String bearer) {
        return send("GET", path, bearer, null);
    }

    Answer send(String method, String path, String bearer, String jsonBody) {
        Answer r = trySend(method, path, bearer, jsonBody);
        if (r == null) {
            throw new AssertionError(method + " " + path + " got no answer" + (alive() ? "" : ":\n" + tail()));
        }
        return r;
    }

    private Answer tryGet(String path) {
        return trySend("GET", path, null, null);
    }

    private Answer trySend(String method, String path, String bearer, String jsonBody) {
        URI uri;
        try {
            uri = new URI("http://127.0.0.1:" + port + path);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(e);
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(15))
                .method(method, jsonBody == null ? HttpRequest.BodyPublishers.noBody()
                                                 : HttpRequest.BodyPublishers.ofString(jsonBody));
        if (bearer != null) {
            b.header("Authorization", "Bearer " + bearer);
        }
        if (jsonBody != null) {
            b.header("Content-Type", "application/json");
        }
        try {
            // the request timeout does not cover every stage of the JDK client: bound the whole call too
            HttpResponse<java.io.InputStream> r = http.sendAsync(b.build(), HttpResponse.BodyHandlers.ofInputStream())
                    .get(20, TimeUnit.SECONDS);
            try (java.io.InputStream body = r.body()) {
                if (r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream")) {
                    return new Answer(r.statusCode(), "(an event stream)");
                }
                return new Answer(r.statusCode(), new String(body.readAllBytes(), StandardCharsets.UTF_8));
            }
        } catch (IOException | java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Makes a key with the admin key. */
    Key createKey(String name, List<String> tables) {
        String body;
        try {
            body = JSON.writeValueAsString(Map.of("name", name, "tables", tables));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Answer r = send("POST", "/v1/keys", adminKey, body);
        if (r.statusCode() != 201) {
            throw new AssertionError("key not created: " + r.statusCode() + " " + r.body());
        }
        JsonNode key = json(r.body());
        return new Key(key.get("id").asText(), key.get("key").asText());
    }

    void deleteKey(Key key) {
        Answer r = send("DELETE", "/v1/keys/" + key.id(), adminKey, null);
        if (r.statusCode() != 204) {
            throw new AssertionError("key not deleted: " + r.statusCode() + " " + r.body());
        }
    }

    static JsonNode json(String text) {
        try {
            return JSON.readTree(text);
        } catch (IOException e) {
            throw new AssertionError("not JSON: " + text, e);
        }
    }

    // ---- metrics

    /**
     * The value of one sample of {@code GET /metrics}, e.g. {@code metric("cdc_connections", "transport",
     * "websocket")}; fails when there is no such sample.
     */
    double metric(String name, String... labels) {
        Answer r = get("/metrics", null);
        if (r.statusCode() != 200) {
            throw new AssertionError("/metrics answered " + r.statusCode());
        }
        for (String line : r.body().split("\n")) {
            if (line.startsWith("#") || !line.startsWith(name)) {
                continue;
            }
            String rest = line.substring(name.length());
            if (!rest.startsWith("{") && !rest.startsWith(" ")) {
                continue;
            }
            boolean all = true;
            for (int i = 0; i + 1 < labels.length; i += 2) {
                all &= rest.contains(labels[i] + "=\"" + labels[i + 1] + "\"");
            }
            if (all) {
                String[] parts = line.trim().split("\\s+");
                return Double.parseDouble(parts[parts.length - 1]);
            }
        }
        throw new AssertionError("no sample " + name + " " + List.of(labels) + " in /metrics");
    }

    // ---- heap

    /**
     * The heap the service holds, in bytes: the live objects of {@code jcmd GC.class_histogram}, which makes a
     * full collection and counts what survived it in one safepoint. Garbage does not count; what a hostile client
     * makes the service keep does.
     *
     * <p>Not {@code GC.run} followed by {@code GC.heap_info}: those are two attaches, a JVM start apart (seconds on
     * a loaded machine), and the heap used at the second includes everything allocated since the first. An attack
     * that makes the service allocate fast (a ping flood: ~30 MB/s of frames read and dropped) then reads as tens
     * of MiB "held" that the collection just before had found free (docs/benchmarks.md, "Memory under hostile
     * clients").
     * (jcmd, not JMX: JMX would deserialize in this JVM, where an in-process server of an earlier test class has
     * installed Helidon's deny-all deserialization filter.)
     */
    long retainedHeap() {
        try {
            Matcher total = HISTOGRAM_TOTAL.matcher(jcmd("GC.class_histogram"));
            if (!total.find()) {
                throw new AssertionError("no Total line in jcmd GC.class_histogram");
            }
            return Long.parseLong(total.group(1));
        } catch (RuntimeException | AssertionError e) {
            assertAlive();
            throw e;
        }
    }

    long maxHeap() {
        Matcher max = MAX_HEAP.matcher(jcmd("VM.flags"));
        if (!max.find()) {
            throw new AssertionError("no MaxHeapSize in jcmd VM.flags");
        }
        return Long.parseLong(max.group(1));
    }

    private String jcmd(String command) {
        try {
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                                           Long.toString(process.pid()), command)
                    .redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new AssertionError("jcmd " + command + " failed: " + new String(out, StandardCharsets.UTF_8));
            }
            return new String(out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new AssertionError("cannot run jcmd " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    // ---- the log

    /** Every line the service wrote to stdout so far. */
    List<String> stdoutLines() {
        return lines(stdout);
    }

    /** The number of stdout lines so far: a mark for {@link #stackTracesSince}. */
    int logMark() {
        return stdoutLines().size();
    }

    /**
     * Stack traces the service printed: a JSON line with a {@code stack_trace} field, or a line of a printed
     * trace ({@code "\tat "}, {@code Exception in thread}) on stdout after {@code mark} or anywhere on stderr.
     */
    List<String> stackTracesSince(int mark) {
        List<String> found = new ArrayList<>();
        List<String> out = stdoutLines();
        for (String line : out.subList(Math.min(mark, out.size()), out.size())) {
            if (line.contains("\"stack_trace\"") || isTraceLine(line)) {
                found.add(line);
            }
        }
        for (String line : lines(stderr)) {
            if (isTraceLine(line)) {
                found.add("stderr: " + line);
            }
        }
        return found;
    }

    void assertNoStackTraceSince(int mark) {
        List<String> traces = stackTracesSince(mark);
        if (!traces.isEmpty()) {
            throw new AssertionError(traces.size() + " stack trace line(s) in the service's log, e.g.:\n"
                                             + String.join("\n", traces.subList(0, Math.min(3, traces.size()))));
        }
    }

    private static boolean isTraceLine(String line) {
        return line.startsWith("\tat ") || line.contains("\\tat ") || line.startsWith("Exception in thread")
                || line.startsWith("Caused by: ");
    }

    /** The JSON log lines after {@code mark} that carry this {@code connection_id}. */
    List<JsonNode> linesOf(String connectionId, int mark) {
        List<JsonNode> found = new ArrayList<>();
        List<String> out = stdoutLines();
        for (String line : out.subList(Math.min(mark, out.size()), out.size())) {
            if (line.contains(connectionId) && line.startsWith("{")) {
                try {
                    JsonNode node = JSON.readTree(line);
                    if (connectionId.equals(node.path("connection_id").asText())) {
                        found.add(node);
                    }
                } catch (IOException e) {
                    // a torn last line: the next read has it whole
                }
            }
        }
        return found;
    }

    /** The last 40 lines of stdout and stderr, for failure messages. */
    String tail() {
        List<String> out = stdoutLines();
        List<String> err = lines(stderr);
        return "stdout:\n" + String.join("\n", out.subList(Math.max(0, out.size() - 40), out.size()))
                + "\nstderr:\n" + String.join("\n", err.subList(Math.max(0, err.size() - 40), err.size()));
    }

    private static List<String> lines(Path file) {
        try {
            return List.of(Files.readString(file, StandardCharsets.UTF_8).split("\n"));
        } catch (IOException e) {
            return List.of();
        }
    }

    // ---- connections as the service's process sees them

    /**
     * Whether the service's process still holds the TCP connection whose client end is {@code clientPort}: a
     * socket of the child's with that remote port, found through {@code /proc/<pid>/fd} and
     * {@code /proc/net/tcp*}. This sees a cut that the client cannot see without reading (a server that closed
     * its end while our receive buffer is full).
     */
    boolean holdsConnectionFrom(int clientPort) {
        List<String> inodes = new ArrayList<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            for (String line : lines(Path.of(table))) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 10 || !f[1].contains(":")) {
                    continue;
                }
                int local = Integer.parseInt(f[1].substring(f[1].lastIndexOf(':') + 1), 16);
                int remote = Integer.parseInt(f[2].substring(f[2].lastIndexOf(':') + 1), 16);
                if (local == port && remote == clientPort) {
                    inodes.add("socket:[" + f[9] + "]");
                }
            }
        }
        if (inodes.isEmpty()) {
            return false;
        }
        File[] fds = new File("/proc/" + process.pid() + "/fd").listFiles();
        if (fds == null) {
            return false;
        }
        for (File fd : fds) {
            try {
                if (inodes.contains(Files.readSymbolicLink(fd.toPath()).toString())) {
                    return true;
                }
            } catch (IOException e) {
                // closed meanwhile
            }
        }
        return false;
    }

    /**
     * Waits until the service has let go of the connection from {@code clientPort}; returns how long that took,
     * or fails after {@code wait}.
     */
    Duration awaitReleased(int clientPort, Duration wait) {
        long start = System.nanoTime();
        long deadline = start + wait.toNanos();
        while (holdsConnectionFrom(clientPort)) {
            assertAlive();
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the service still holds the connection from port " + clientPort
                                                 + " after " + wait);
            }
            pause(50);
        }
        return Duration.ofNanos(System.nanoTime() - start);
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }

    static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        ThreadLocalRandom.current().nextBytes(b);
        return b;
    }

    /** The service's own logback.xml (JSON on stdout), not the tests' logback-test.xml. */
    private static String productionLogback() {
        Path p = Path.of("target", "classes", "logback.xml").toAbsolutePath();
        if (!Files.exists(p)) {
            throw new AssertionError("no " + p + ": compile first");
        }
        return p.toString();
    }

    /** The test JVM's class path without the test classes (and their logback-test.xml). */
    private static String serviceClassPath(boolean testClasses) {
        List<String> entries = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            boolean tests = entry.endsWith("test-classes") || entry.endsWith("test-classes/");
            if (!entry.isBlank() && (testClasses || !tests) && !entry.contains("surefire")) {
                entries.add(entry);
            }
        }
        return String.join(File.pathSeparator, entries);
    }
}
