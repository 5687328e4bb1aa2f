package io.cdcnotify;

import java.io.PrintStream;

import io.helidon.config.Config;
import io.helidon.webserver.WebServerConfig;

/** Lets test helpers in other packages run {@link Main#setup}, which stays package-private. */
public final class TestAccess {

    private TestAccess() {
    }

    public static void setup(WebServerConfig.Builder builder, Config config) {
        Main.setup(builder, config);
    }

    /** {@code Main}'s one factory, on {@code config}: what the commands are built from. */
    public static io.cdcnotify.cli.Factory factory(Config config) {
        return new Main.Parts(config);
    }

    /** Runs {@code java -jar cdc-notify.jar ARGS} in this JVM, against {@code config}; the exit code. */
    public static int run(Config config, PrintStream out, PrintStream err, String... args) {
        return Main.run(args, config, out, err);
    }

    /** {@link Main#setup}, returning the outbox listener it wired (for fault injection in its package's tests). */
    public static io.cdcnotify.listen.OutboxListener setupReturningListener(WebServerConfig.Builder builder,
                                                                           Config config) {
        return Main.setup(builder, config).listener();
    }
}
