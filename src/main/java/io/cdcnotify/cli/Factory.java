package io.cdcnotify.cli;

import java.net.URI;
import java.time.Duration;

import javax.sql.DataSource;

import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.db.Captures;
import io.helidon.config.Config;

/**
 * What the commands are built from: {@code Main}'s one factory. A command asks it for the parts it needs
 * instead of opening a database of its own; each part is built once, the database on first use, and a service
 * the command starts runs on the same parts. It all closes with the factory.
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

    /** The configured database's connection pool. */
    DataSource dataSource();

    /** Starts the service; an {@code IllegalStateException} says why it could not (a port in use, no database). */
    Service start();

    /** Runs the service until the JVM is asked to stop; the exit code. */
    int serve();

    /** From now on, logs at the configured level (CDC_LOG_LEVEL): the commands start with warnings only. */
    void logAtConfiguredLevel();

    /** Closes what was opened. */
    @Override
    void close();

    /** A running service. */
    interface Service {
        /** The port it listens on. */
        int port();

        /** Where a browser on this machine finds it (and its console), ending in {@code /}. */
        URI url();

        /** Drains its clients within {@code grace}, then stops it. */
        void stop(Duration grace);
    }
}
