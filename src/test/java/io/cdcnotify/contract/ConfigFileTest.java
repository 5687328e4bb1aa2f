package io.cdcnotify.contract;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.cdcnotify.config.Settings;
import io.helidon.config.Config;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 1: {@code application.yaml} is read from the working directory when present, the defaults
 * ship inside the jar, environment variables override the file and the file the defaults. A working directory
 * is a process's, so each case runs {@link Settings#load()} in a small child JVM started in a directory of its
 * own, with an environment of its own.
 */
class ConfigFileTest {

    private static final String FRAME = "cdc.limits.max-frame-bytes";
    private static final String TTL = "cdc.subscriptions.detached-ttl-seconds";

    @Test
    void withoutAFileTheBuiltInDefaultsApply(@TempDir Path dir) throws Exception {
        assertThat(probe(dir, Map.of())).isEqualTo("65536 300");
    }

    @Test
    void theFileInTheWorkingDirectoryOverridesTheDefaults(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("application.yaml"), """
                cdc:
                  limits:
                    max-frame-bytes: 1234
                """, StandardCharsets.UTF_8);
        // a key the file does not name keeps its built-in default
        assertThat(probe(dir, Map.of())).isEqualTo("1234 300");
    }

    @Test
    void anEnvironmentVariableOverridesTheFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("application.yaml"), """
                cdc:
                  limits:
                    max-frame-bytes: 1234
                  subscriptions:
                    detached-ttl-seconds: 7
                """, StandardCharsets.UTF_8);
        assertThat(probe(dir, Map.of("CDC_MAX_FRAME_BYTES", "999"))).isEqualTo("999 7");
    }

    /** Runs {@link Probe} in {@code dir} with the contract's variables removed, then {@code env} set. */
    private static String probe(Path dir, Map<String, String> env) throws IOException, InterruptedException {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        ProcessBuilder pb = new ProcessBuilder(java.toString(), "-Xmx64m", "-XX:TieredStopAtLevel=1",
                                               "-cp", System.getProperty("java.class.path"), Probe.class.getName())
                .directory(dir.toFile())
                .redirectErrorStream(true);
        Settings.ENVIRONMENT.keySet().forEach(pb.environment()::remove);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out;
        try {
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the probe ends").isTrue();
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } finally {
            p.destroyForcibly();
        }
        assertThat(p.exitValue()).as(out).isZero();
        return out.lines().filter(l -> l.startsWith("probe: ")).findFirst()
                .map(l -> l.substring("probe: ".length())).orElseThrow(() -> new AssertionError(out));
    }

    /** Prints two settings as the service would load them. */
    static final class Probe {
        private Probe() {
        }

        public static void main(String[] args) {
            Config c = Settings.load();
            System.out.println("probe: " + c.get(FRAME).asInt().get() + " " + c.get(TTL).asInt().get());
        }
    }
}
