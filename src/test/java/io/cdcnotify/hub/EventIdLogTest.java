package io.cdcnotify.hub;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.cdcnotify.wire.Message;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import static io.cdcnotify.hub.HubFixtures.attach;
import static io.cdcnotify.hub.HubFixtures.event;
import static io.cdcnotify.hub.HubFixtures.hub;
import static io.cdcnotify.hub.HubFixtures.start;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Contract section 8: a log line about an event carries its {@code event_id} (and the connection's
 * {@code connection_id}). The only line about one event is a writer that fails while writing it, which no input
 * on the wire provokes, so this holds it at the hub with a transport that fails on one event.
 */
class EventIdLogTest {

    @Test
    void aWriterThatFailsOnAnEventLogsItsEventIdAndConnectionIdAndEndsTheConnectionAsInternal() {
        List<ILoggingEvent> lines = new CopyOnWriteArrayList<>();
        Logger logger = (Logger) LoggerFactory.getLogger(Client.class);
        AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent e) {
                e.prepareForDeferredProcessing();
                lines.add(e);
            }
        };
        appender.start();
        logger.addAppender(appender);
        try {
            Hub hub = hub(100);
            Subscription s = hub.subscribe("s-1", "k", List.of("orders"), false);
            RecordingTransport recording = new RecordingTransport();
            FailingOn failing = new FailingOn(recording, 42);
            Client c = hub.connect("c-eventlog", "key-c", failing, 1_000).orElseThrow();
            start(c);
            attach(c, recording, s);

            hub.publish(List.of(event(41, "orders"), event(42, "orders")));

            Disconnect d = recording.awaitClosed();
            assertThat(d.code()).isEqualTo(1011);
            List<ILoggingEvent> failed = lines.stream().filter(e -> e.getFormattedMessage().contains("writer failed")).toList();
            assertThat(failed).hasSize(1);
            assertThat(failed.getFirst().getMDCPropertyMap())
                    .containsEntry("event_id", "42")
                    .containsEntry("connection_id", "c-eventlog");
            // and no line about something else carries an event_id
            assertThat(lines).filteredOn(e -> !e.getFormattedMessage().contains("writer failed"))
                    .allSatisfy(e -> assertThat(e.getMDCPropertyMap()).doesNotContainKey("event_id"));
        } finally {
            logger.detachAppender(appender);
            appender.stop();
        }
    }

    /** A transport that fails (as a defect would, not as a dead peer) while writing one event. */
    private record FailingOn(RecordingTransport delegate, long id) implements Transport {
        @Override
        public String name() {
            return delegate.name();
        }

        @Override
        public void event(String subscriptionId, Publication publication) throws IOException {
            if (publication.event().id() == id) {
                throw new IllegalStateException("broken encoder (test)");
            }
            delegate.event(subscriptionId, publication);
        }

        @Override
        public void message(Message message) throws IOException {
            delegate.message(message);
        }

        @Override
        public void flush() {
            delegate.flush();
        }

        @Override
        public void keepalive() {
            delegate.keepalive();
        }

        @Override
        public Duration keepaliveInterval() {
            return delegate.keepaliveInterval();
        }

        @Override
        public boolean endsWithSubscription() {
            return delegate.endsWithSubscription();
        }

        @Override
        public void close(Disconnect disconnect) {
            delegate.close(disconnect);
        }

        @Override
        public void abort() {
            delegate.abort();
        }
    }
}
