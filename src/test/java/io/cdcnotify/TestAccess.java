package io.cdcnotify;

import io.helidon.config.Config;
import io.helidon.webserver.WebServerConfig;

/** Lets test helpers in other packages run {@link Main#setup}, which stays package-private. */
public final class TestAccess {

    private TestAccess() {
    }

    public static void setup(WebServerConfig.Builder builder, Config config) {
        Main.setup(builder, config);
    }
}
