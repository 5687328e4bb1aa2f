package io.cdcnotify.hub;

import static io.cdcnotify.hub.HubFixtures.attach;
import static io.cdcnotify.hub.HubFixtures.connect;
import static io.cdcnotify.hub.HubFixtures.events;
import static io.cdcnotify.hub.HubFixtures.hub;
import static io.cdcnotify.hub.HubFixtures.waiting;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;

import io.cdcnotify.hub.RecordingTransport.Event;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A writer started on demand (WebSocket): none while the connection is idle, everything written, then closed. */
@Timeout(60)
class OnDemandWriterTest {

    private final Set<Thread> started = ConcurrentHashMap.newKeySet();
    private final ThreadFactory threads = r -> {
        Thread t = Thread.ofVirtual().name("writer").unstarted(r);
        started.add(t);
        return t;
    };

    @Test
    void anIdleConnectionKeepsNoWriterAndWhatComesNextStartsOne() {
        Hub hub = hub(100);
        Subscription s = hub.subscribe("s-1", "k", List.of("orders"), true);
        RecordingTransport t = new RecordingTransport();
        Client c = connect(hub, "c1", t);
        c.writeOnDemand(threads);
        attach(c, t, s);

        hub.publish(events("orders", 1, 2, 3));
        waiting().until(() -> t.events().size() == 3);
        waiting().until(this::noWriterAlive);

        hub.publish(events("orders", 4));
        waiting().until(() -> t.events().size() == 4);
        assertThat(t.events()).extracting(Event::id).containsExactly(1L, 2L, 3L, 4L);
        assertThat(started).as("one writer per burst at most, none kept").hasSizeGreaterThan(1);
        waiting().until(this::noWriterAlive);

        c.close(Disconnect.SHUTDOWN);
        assertThat(t.awaitClosed()).isEqualTo(Disconnect.SHUTDOWN);
        waiting().until(() -> c.finished() && !hub.clients().contains(c) && !s.status().attached());
        waiting().until(this::noWriterAlive);
    }

    private boolean noWriterAlive() {
        return started.stream().noneMatch(Thread::isAlive);
    }
}
