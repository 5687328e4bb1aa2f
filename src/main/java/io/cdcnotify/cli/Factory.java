package io.cdcnotify.cli;

import java.time.Duration;

import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.db.Captures;
import io.helidon.config.Config;

/**
 * What the commands are built from: {@code Main}'s one factory. A command asks it for the parts it needs
 * instead of opening a database of its own; the database opens on first use and closes with the factory.
 */
public interface Factory extends AutoCloseable {

    /** The configuration the service would run with (environment over application.yaml over defaults). */
    Config config();

    /** The service's version, as built. */
    String version();

    /** The API keys in the configured database. */
    ApiKeys keys();

    /** The captured tables in the configured database. */
    Captures captures();

    /** Runs the service until the JVM is asked to stop; the exit code. */
    int serve();

    /**
     * Runs the demo (the service plus a stream of changes every {@code interval}) until the JVM is asked to stop;
     * the exit code.
     */
    int demo(Duration interval);

    /** Closes what was opened. */
    @Override
    void close();
}
