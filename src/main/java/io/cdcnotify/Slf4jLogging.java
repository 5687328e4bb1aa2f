package io.cdcnotify;

import io.helidon.logging.common.spi.LoggingProvider;
import org.slf4j.bridge.SLF4JBridgeHandler;

/**
 * Helidon's logging through SLF4J (logback: one JSON line each): Helidon logs to java.util.logging, and looks
 * for a provider like this one at start; without one it prints a plain-text "There is no Helidon logging
 * implementation" line among the JSON. (Helidon's own helidon-logging-slf4j does the same; it is not in the
 * package registry this project builds from.)
 */
public final class Slf4jLogging implements LoggingProvider {

    /** Routes java.util.logging to SLF4J; called once, before Helidon logs anything. */
    @Override
    public void initialization() {
        install();
    }

    @Override
    public void runTime() {
        install();
    }

    static synchronized void install() {
        if (!SLF4JBridgeHandler.isInstalled()) {
            SLF4JBridgeHandler.removeHandlersForRootLogger();
            SLF4JBridgeHandler.install();
        }
    }
}
