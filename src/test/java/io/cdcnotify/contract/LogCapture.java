package io.cdcnotify.contract;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import org.slf4j.LoggerFactory;

/**
 * The service's log lines while it is open, as logback events (the service logs through logback). Helidon's own
 * loggers (java.util.logging) are bridged into logback as {@code Main.main} does, so their lines count too.
 */
final class LogCapture implements AutoCloseable {

    private final List<ILoggingEvent> lines = new CopyOnWriteArrayList<>();
    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    private final AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
        @Override
        protected void append(ILoggingEvent event) {
            event.prepareForDeferredProcessing();
            lines.add(event);
        }
    };

    LogCapture() {
        if (!org.slf4j.bridge.SLF4JBridgeHandler.isInstalled()) {
            org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
            org.slf4j.bridge.SLF4JBridgeHandler.install();
        }
        appender.start();
        root.addAppender(appender);
    }

    List<ILoggingEvent> lines() {
        return lines;
    }

    /** The lines that carry a stack trace. */
    List<ILoggingEvent> withStackTrace() {
        return lines.stream().filter(e -> e.getThrowableProxy() != null).toList();
    }

    static String connectionId(ILoggingEvent e) {
        return e.getMDCPropertyMap().get("connection_id");
    }

    @Override
    public void close() {
        root.detachAppender(appender);
        appender.stop();
    }
}
