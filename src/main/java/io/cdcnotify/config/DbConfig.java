package io.cdcnotify.config;

import io.helidon.config.Config;

/** Where the database is and how many pooled connections the service may hold. */
public record DbConfig(String url, String user, String password, int poolSize) {

    public static DbConfig from(Config root) {
        Config c = root.get("db");
        return new DbConfig(c.get("url").asString().get(),
                            c.get("user").asString().get(),
                            c.get("password").asString().orElse(""),
                            c.get("pool-size").asInt().get());
    }
}
