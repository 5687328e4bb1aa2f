package io.cdcnotify.observe;

import java.time.Duration;
import java.util.List;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.HalfRequests;
import io.cdcnotify.testing.LogCapture;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Issue 12: clients that abandon HTTP requests half-way (400 of them at once) cost at most one WARN line and no
 * stack trace, with Helidon's loggers bridged into logback as {@code Main.main} does and the turbo filter the
 * logback configuration installs.
 */
class ConnectionNoiseTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();
    private static final TestDatabase DB = CDC.db();

    private static final int SOCKETS = 400;
    /** Opened before the class's server starts (a static field is set before the extension runs). */
    private static final LogCapture LOG = new LogCapture();
    private static final List<ILoggingEvent> LINES = LOG.lines();

    @AfterAll
    static void stop() {
        LOG.close();
    }

    @Test
    void fourHundredAbandonedRequestsLeaveAtMostOneWarnLineAndNoStackTrace() throws Exception {
        ConnectionNoiseFilter filter = filter();
        long droppedBefore = filter.droppedEver();
        int linesBefore = LINES.size();
        HalfRequests.send(CDC.server().port(), SOCKETS,
                          List.of("GET /v1/state HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer cdc_"))
                .close();
        // each abandoned request is one line Helidon logs with a trace, and the filter drops: wait for all of them
        await().atMost(Duration.ofSeconds(60)).untilAsserted(
                () -> assertThat(filter.droppedEver() - droppedBefore).isGreaterThanOrEqualTo(SOCKETS));
        // the service still answers (health awaits readiness: the listener may still be catching up after start)
        await().atMost(Duration.ofSeconds(30)).untilAsserted(
                () -> assertThat(Api.get(CDC.server().http("/health"), null).status()).isEqualTo(200));
        List<ILoggingEvent> fresh = List.copyOf(LINES.subList(linesBefore, LINES.size()));
        assertThat(fresh).filteredOn(e -> e.getThrowableProxy() != null).as("lines with a stack trace").isEmpty();
        assertThat(fresh).filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.WARN)).as("WARN lines")
                .hasSizeLessThanOrEqualTo(1)
                .allSatisfy(e -> assertThat(e.getLoggerName()).isEqualTo(ConnectionNoiseFilter.SUMMARY_LOGGER));
    }

    @Test
    void theSummaryLineComesAtMostOncePerIntervalAndCountsWhatItReplaced() {
        ConnectionNoiseFilter own = new ConnectionNoiseFilter();
        own.setIntervalSeconds(3600);
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger helidon = context.getLogger("io.helidon.webserver.ConnectionHandler");
        int linesBefore = LINES.size();
        for (int i = 0; i < 50; i++) {
            assertThat(own.decide(null, helidon, Level.WARN, "escaped", null, new IllegalStateException("x")))
                    .isEqualTo(ch.qos.logback.core.spi.FilterReply.DENY);
        }
        // not from Helidon's web CDC.server(), at ERROR, or without a throwable: untouched
        assertThat(own.decide(null, context.getLogger("io.cdcnotify.x"), Level.WARN, "m", null, new RuntimeException()))
                .isEqualTo(ch.qos.logback.core.spi.FilterReply.NEUTRAL);
        assertThat(own.decide(null, helidon, Level.ERROR, "m", null, new RuntimeException()))
                .isEqualTo(ch.qos.logback.core.spi.FilterReply.NEUTRAL);
        assertThat(own.decide(null, helidon, Level.WARN, "m", null, null))
                .isEqualTo(ch.qos.logback.core.spi.FilterReply.NEUTRAL);
        assertThat(own.droppedEver()).isEqualTo(50);
        List<ILoggingEvent> summaries = LINES.subList(linesBefore, LINES.size()).stream()
                .filter(e -> e.getLoggerName().equals(ConnectionNoiseFilter.SUMMARY_LOGGER)).toList();
        assertThat(summaries).hasSize(1);
        assertThat(summaries.getFirst().getFormattedMessage()).contains("java.lang.IllegalStateException")
                .doesNotContain("x)");
    }

    private static ConnectionNoiseFilter filter() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        return context.getTurboFilterList().stream()
                .filter(ConnectionNoiseFilter.class::isInstance).map(ConnectionNoiseFilter.class::cast)
                .findFirst().orElseThrow(() -> new AssertionError("the logback configuration has no ConnectionNoiseFilter"));
    }
}
