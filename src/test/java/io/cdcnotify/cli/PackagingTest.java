package io.cdcnotify.cli;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The Dockerfile's HEALTHCHECK line and the start script, run as the image and a user run them: under dash,
 * against a running service. The jar they start is this build's classes behind a manifest, as
 * target/cdc-notify.jar is (that jar is made only after the tests).
 */
class PackagingTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    @TempDir
    static Path dir;
    private static Path jar;
    private static final Path JAVA_BIN = Path.of(System.getProperty("java.home"), "bin");

    private record Run(int exit, String out) {
    }

    @BeforeAll
    static void launcherJar() throws IOException {
        List<String> classPath = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(entry);
            if (p.getFileName().toString().startsWith("surefirebooter") && entry.endsWith(".jar")) {
                try (JarFile booter = new JarFile(p.toFile())) { // surefire's manifest-only jar: its own list
                    classPath.addAll(List.of(booter.getManifest().getMainAttributes()
                                                     .getValue(Attributes.Name.CLASS_PATH).split(" ")));
                }
            } else {
                classPath.add(p.toUri().toString());
            }
        }
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "io.cdcnotify.Main");
        manifest.getMainAttributes().put(Attributes.Name.CLASS_PATH, String.join(" ", classPath));
        jar = dir.resolve("cdc-notify.jar");
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream ignored = new JarOutputStream(out, manifest)) {
            Files.createDirectories(dir.resolve("libs")); // beside the jar, as the build leaves it
        }
    }

    /** The command of the Dockerfile's HEALTHCHECK, in shell form (Docker runs it with /bin/sh -c). */
    static String healthcheck() throws IOException {
        Matcher m = Pattern.compile("(?m)^HEALTHCHECK\\s.*?\\bCMD\\s+(.+)$")
                .matcher(Files.readString(Path.of("Dockerfile")));
        assertThat(m.find()).as("a HEALTHCHECK line in the Dockerfile").isTrue();
        String command = m.group(1).trim();
        assertThat(command).as("shell form").doesNotStartWith("[").contains("/app/cdc-notify.jar");
        return command;
    }

    private static Run run(List<String> command, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().putAll(env);
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    @Test
    void theDockerHealthcheckPassesUnderDashOnlyWhileTheServiceIsUp() throws Exception {
        // As in the image: java on the PATH, the jar at /app (here: the launcher jar), SERVER_PORT set.
        String command = healthcheck().replace("/app/cdc-notify.jar", jar.toString());
        String path = JAVA_BIN + ":/usr/bin:/bin";
        try (CdcServer server = CdcServer.start(DB)) {
            Map<String, String> env = Map.of("PATH", path, "SERVER_PORT", String.valueOf(server.port()));
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1))
                    .until(() -> run(List.of("dash", "-c", command), env).exit() == 0);
        }
        int closed;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = socket.getLocalPort();
        }
        Run down = run(List.of("dash", "-c", command), Map.of("PATH", path, "SERVER_PORT", String.valueOf(closed)));
        assertThat(down.exit()).as(down.out()).isNotZero();
        assertThat(down.out()).contains("no answer");
    }

    @Test
    void theImageRunsTheServiceWithExitOnOutOfMemory() throws Exception {
        String docker = Files.readString(Path.of("Dockerfile"));
        assertThat(docker).containsPattern("ENV JAVA_OPTS=\"[^\"]*-XX:\\+ExitOnOutOfMemoryError")
                .contains("$JAVA_OPTS -jar cdc-notify.jar");
        // the image's JVM options are ones a JVM of the image's version accepts (no engine here to run the image)
        Matcher runtime = Pattern.compile("FROM eclipse-temurin:(\\d+)-jre").matcher(docker);
        Matcher opts = Pattern.compile("ENV JAVA_OPTS=\"([^\"]*)\"").matcher(docker);
        assertThat(runtime.find()).isTrue();
        assertThat(opts.find()).isTrue();
        if (Runtime.version().feature() >= Integer.parseInt(runtime.group(1))) {
            List<String> command = new ArrayList<>(List.of(JAVA_BIN.resolve("java").toString()));
            command.addAll(List.of(opts.group(1).split(" ")));
            command.add("-version");
            Run run = run(command, Map.of());
            assertThat(run.exit()).as(run.out()).isZero();
        }
    }

    @Test
    void aStartLogsOnlyJsonLinesOneOfThemWithTheConsoleUrl() throws Exception {
        Path out = dir.resolve("serve.out");
        Path err = dir.resolve("serve.err");
        ProcessBuilder pb = new ProcessBuilder(JAVA_BIN.resolve("java").toString(), "-jar", jar.toString())
                .redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().putAll(Map.of("DB_URL", DB.url(), "DB_USER", DB.user(), "DB_PASSWORD", DB.password(),
                                       "SERVER_PORT", "0", "SERVER_HOST", "127.0.0.1"));
        Process serve = pb.start();
        try {
            String started = await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(200))
                    .until(() -> Files.readAllLines(out).stream().filter(l -> l.contains("listening on port"))
                            .findFirst().orElse(null), java.util.Objects::nonNull);
            assertThat(started).containsPattern("web console http://127\\.0\\.0\\.1:\\d+/");
        } finally {
            serve.destroy(); // SIGTERM: the service drains and stops
            assertThat(serve.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        List<String> lines = Files.readAllLines(out);
        assertThat(lines).anyMatch(l -> l.contains("cdc-notify stopped"));
        for (String line : lines) {
            assertThat(json.readTree(line).isObject()).as("a JSON line: %s", line).isTrue();
        }
        assertThat(Files.readString(err)).as("nothing on stderr (such as Helidon's 'no logging implementation')")
                .isEmpty();
    }

    /** A PATH with the tools the script uses and no java at all. */
    private static String pathWithoutJava() throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin-no-java"));
        for (String tool : List.of("sed", "head", "dirname")) {
            Path link = bin.resolve(tool);
            if (!Files.exists(link)) {
                Files.createSymbolicLink(link, Path.of("/usr/bin", tool).toRealPath());
            }
        }
        return bin.toString();
    }

    @Test
    void theStartScriptFindsAJava21ItselfAndTurnsOnExitOnOutOfMemory() throws Exception {
        // No JAVA_HOME, no java on the PATH: the script looks in the JVM directory (here: this JVM's parent).
        Map<String, String> env = Map.of("PATH", pathWithoutJava(), "CDC_NOTIFY_JAR", jar.toString(),
                                         "CDC_JVM_DIR", JAVA_BIN.getParent().getParent().toString(),
                                         "JAVA_OPTS", "-XX:+PrintFlagsFinal");
        Run run = run(List.of("dash", "bin/cdc-notify", "--version"), env);
        assertThat(run.exit()).as(run.out()).isZero();
        assertThat(run.out()).contains("cdc-notify ").containsPattern("ExitOnOutOfMemoryError\\s+= true")
                // the memory flags (docs/operations.md, "Sizing the heap"): this JVM (21.0.1+) has the trim
                .containsPattern("MaxHeapFreeRatio\\s+= 5 ").containsPattern("TrimNativeHeapInterval\\s+= 5000 ")
                .containsPattern("G1PeriodicGCInterval\\s+= 10000 ");
        if (Runtime.version().feature() >= 25) {
            // compact object headers where the JVM has them as a product flag (the script's JVM is this one or newer)
            assertThat(run.out()).containsPattern("UseCompactObjectHeaders\\s+= true ");
        }

        // A JAVA_HOME that is too old, and nothing else: a clear error, not UnsupportedClassVersionError.
        Path old = Files.createDirectories(dir.resolve("old-jdk/bin"));
        Path fake = old.resolve("java");
        Files.writeString(fake, "#!/bin/sh\necho '    java.specification.version = 17' >&2\n");
        fake.toFile().setExecutable(true);
        Run none = run(List.of("dash", "bin/cdc-notify", "--version"),
                       Map.of("PATH", pathWithoutJava(), "CDC_NOTIFY_JAR", jar.toString(),
                              "JAVA_HOME", old.getParent().toString(),
                              "CDC_JVM_DIR", dir.resolve("no-jvms").toString()));
        assertThat(none.exit()).isEqualTo(1);
        assertThat(none.out()).contains("needs Java 21 or newer").contains(old.getParent().toString());
    }
}
