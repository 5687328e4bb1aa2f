package io.cdcnotify.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import io.cdcnotify.TestAccess;
import io.cdcnotify.config.Settings;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@code java -jar cdc-notify.jar …}: help pages, usage errors and the health probe, in this JVM. */
class CliTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private record Run(int exit, String out, String err) {
    }

    private static Run cli(Map<String, String> env, String... args) {
        Map<String, String> all = new HashMap<>(Map.of("DB_URL", DB.url(), "DB_USER", DB.user(),
                                                       "DB_PASSWORD", DB.password()));
        all.putAll(env);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = TestAccess.run(Settings.load(all), new PrintStream(out, true, StandardCharsets.UTF_8),
                                  new PrintStream(err, true, StandardCharsets.UTF_8), args);
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private static Run cli(String... args) {
        return cli(Map.of(), args);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "serve", "keys", "keys create", "keys list", "keys revoke", "captures", "captures add",
            "captures list", "captures remove", "demo", "health"})
    void everyCommandHasAHelpPageOnStdout(String command) {
        String[] words = command.isEmpty() ? new String[0] : command.split(" ");
        String[] args = new String[words.length + 1];
        System.arraycopy(words, 0, args, 0, words.length);
        args[words.length] = "--help";
        Run help = cli(args);
        assertThat(help.exit()).as(help.err()).isZero();
        assertThat(help.err()).isEmpty();
        assertThat(help.out()).startsWith(("Usage: cdc-notify " + command).trim()).contains("-h, --help");
    }

    @Test
    void theMainPageSaysWhatNoCommandAndTheDemoDo() {
        for (String[] args : new String[][] {{"--help"}, {"-h"}, {"help"}}) {
            Run help = cli(args);
            assertThat(help.exit()).isZero();
            assertThat(help.out())
                    .contains("With no command, starts the service")
                    .contains("serve", "keys", "captures", "demo", "health")
                    .containsOnlyOnce("Usage:");
        }
        assertThat(cli("help", "demo").out()).contains("--interval-ms", "demo table", "Ctrl-C");
        assertThat(cli("--version").out()).startsWith("cdc-notify ");
    }

    @Test
    void unknownCommandsAndOptionsAreNamedWithExitCodeTwo() {
        Run bogus = cli("bogus");
        assertThat(bogus.exit()).isEqualTo(2);
        assertThat(bogus.out()).isEmpty();
        assertThat(bogus.err()).contains("unknown command 'bogus'").contains("Try 'cdc-notify --help'")
                .doesNotContain("Usage:");
        Run option = cli("--bogus");
        assertThat(option.exit()).isEqualTo(2);
        assertThat(option.err()).contains("Unknown option: '--bogus'");
        Run sub = cli("keys", "list", "--all");
        assertThat(sub.exit()).isEqualTo(2);
        assertThat(sub.err()).contains("'--all'", "cdc-notify keys list --help");
        assertThat(cli("health", "--timeout-ms", "soon").exit()).isEqualTo(2);
    }

    /**
     * Every command, the service's too, refuses what it does not know before it does anything: it names the
     * culprit and the help page to read, on stderr, with exit code 2.
     */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "serve --bogus       | Unknown option: '--bogus'            | cdc-notify serve",
            "keys --bogus        | Unknown option: '--bogus'            | cdc-notify keys",
            "keys frob           | unknown command 'frob'               | cdc-notify keys",
            "keys create --bogus | Unknown option: '--bogus'            | cdc-notify keys create",
            "keys revoke         | Missing required parameter: 'ID'     | cdc-notify keys revoke",
            "captures --bogus    | Unknown option: '--bogus'            | cdc-notify captures",
            "captures frob       | unknown command 'frob'               | cdc-notify captures",
            "captures remove     | Missing required parameter: 'TABLE'  | cdc-notify captures remove",
            "demo --bogus        | Unknown option: '--bogus'            | cdc-notify demo",
            "health --bogus      | Unknown option: '--bogus'            | cdc-notify health",
            "help frob           | Unknown subcommand 'frob'            | cdc-notify"})
    void everyCommandNamesWhatItDoesNotKnowWithExitCodeTwo(String line, String named, String command) {
        Run run = cli(line.split(" "));
        assertThat(run.exit()).as(run.err()).isEqualTo(2);
        assertThat(run.out()).isEmpty();
        assertThat(run.err()).contains(named).contains("Try '" + command + " --help'")
                .doesNotContain("Usage:");
    }

    @Test
    void healthIsZeroOnlyWhileTheServiceAnswersUp() throws Exception {
        try (CdcServer server = CdcServer.start(DB)) {
            Map<String, String> port = Map.of("SERVER_PORT", String.valueOf(server.port()));
            await().atMost(Duration.ofSeconds(20)).until(() -> cli(port, "health").exit() == 0);
            Run up = cli(port, "health");
            assertThat(up.out()).startsWith("200 ").contains("\"status\":\"UP\"");
        }
        int closed;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = socket.getLocalPort();
        }
        Run down = cli(Map.of("SERVER_PORT", String.valueOf(closed)), "health", "--timeout-ms", "500");
        assertThat(down.exit()).isEqualTo(1);
        assertThat(down.err()).contains("no answer from http://127.0.0.1:" + closed + "/health");
    }
}
