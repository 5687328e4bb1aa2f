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

    /** Runs {@code java -jar cdc-notify.jar ARGS} in this JVM, against {@code config}; the exit code. */
    public static int run(Config config, PrintStream out, PrintStream err, String... args) {
        return Main.run(args, config, out, err);
    }
}
