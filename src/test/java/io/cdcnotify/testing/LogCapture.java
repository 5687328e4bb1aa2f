package io.cdcnotify.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.LoggerFactory;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The service's log lines while it is open, as logback events (the service logs through logback) with their MDC
 * taken on the logging thread, as an asynchronous appender would. Helidon's own loggers (java.util.logging) are
 * bridged into logback as {@code Main.main} does, so their lines count too. Open one for a class (in
 * {@code @BeforeAll}) or for a block; {@link #cleanEachTest()} opens one for each test and fails the test on a
 * stack trace or an ERROR line.
 */
public final class LogCapture implements AutoCloseable {

    private final List<ILoggingEvent> lines = new CopyOnWriteArrayList<>();
    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    private final AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
        @Override
        protected void append(ILoggingEvent event) {
            event.prepareForDeferredProcessing();
            lines.add(event);
        }
    };

    public LogCapture() {
        if (!org.slf4j.bridge.SLF4JBridgeHandler.isInstalled()) {
            org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
            org.slf4j.bridge.SLF4JBridgeHandler.install();
        }
        appender.start();
        root.addAppender(appender);
    }

    /** The lines so far, in order; a live list (its size now marks where the next lines will start). */
    public List<ILoggingEvent> lines() {
        return lines;
    }

    /** The lines that carry a stack trace. */
    public List<ILoggingEvent> withStackTrace() {
        return lines.stream().filter(e -> e.getThrowableProxy() != null).toList();
    }

    public static String connectionId(ILoggingEvent e) {
        return e.getMDCPropertyMap().get("connection_id");
    }

    @Override
    public void close() {
        root.detachAppender(appender);
        appender.stop();
    }

    /** A capture for each test that fails the test on a line with a stack trace or at ERROR. */
    public static CleanEachTest cleanEachTest() {
        return new CleanEachTest();
    }

    /** See {@link #cleanEachTest()}; {@link #log()} is the running test's capture. */
    public static final class CleanEachTest implements BeforeEachCallback, AfterEachCallback {
        private LogCapture log;

        private CleanEachTest() {
        }

        public LogCapture log() {
            return log;
        }

        @Override
        public void beforeEach(ExtensionContext context) {
            log = new LogCapture();
        }

        @Override
        public void afterEach(ExtensionContext context) {
            try {
                assertThat(log.withStackTrace()).as("log lines with a stack trace").isEmpty();
                assertThat(log.lines()).noneMatch(e -> e.getLevel().isGreaterOrEqual(Level.ERROR));
            } finally {
                log.close();
            }
        }
    }
}
