package io.cdcnotify.sse;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.management.HotSpotDiagnosticMXBean;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.SseTestClient;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * An idle SSE stream's handler is a virtual thread parked for the stream's whole life, and a parked virtual
 * thread keeps every frame of its stack in the heap (a {@code StackChunk}, ~210 bytes a frame here): at 10,000
 * streams, each frame is ~2 MB (docs/benchmarks.md, "Session 11"). This pins the stack as it is: the read straight
 * from the JDK channel in the handler's second frame, no filter at all (ours: CORS, health details and the
 * response counter, the routing's first handler, has returned), none of Helidon's metrics observer, and no more
 * frames than measured.
 */
class ParkedStreamStackTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    /** The parked handler's frames on Helidon 4.5 / JDK 25 (24; 38 before session 11). */
    static final int MAX_FRAMES = 24;

    private static CdcServer server;
    private static String key;

    @BeforeAll
    static void start() {
        server = CdcServer.start(DB);
        key = Api.createKey(server, List.of("orders"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void anIdleStreamParksInAChannelReadUnderNoFilterAndNoMoreFramesThanMeasured() throws Exception {
        try (SseTestClient sse = SseTestClient.open(server, "/v1/events?tables=orders",
                                                      Map.of("Authorization", "Bearer " + key))) {
            assertThat(sse.status()).isEqualTo(200);
            List<String> stack = await().atMost(SseTestClient.WAIT)
                    .until(ParkedStreamStackTest::parkedHandler, Optional::isPresent).orElseThrow();
            String where = String.join("\n", stack);

            int read = indexOf(stack, "io.cdcnotify.sse.SseSocket.awaitInputEnd");
            assertThat(stack.get(read - 1)).as("the frame over the handler's read:\n%s", where)
                    .contains("sun.nio.ch.SocketChannelImpl.read");
            assertThat(stack.get(read + 1)).as(where).contains("io.cdcnotify.sse.EventsService.stream");
            // a filter is Helidon's FilterProceeder.proceed, the filter, FilterChainImpl.proceed, and with the first
            // one the chain's own frames: none here (the routing's first handler has returned by now)
            assertThat(stack).as("no filter under the handler:\n%s", where)
                    .noneMatch(f -> f.contains("io.helidon.webserver.http.Filters$"))
                    .noneMatch(f -> f.contains("MetricsFeature"))
                    .noneMatch(f -> f.contains("io.cdcnotify.observe."));
            assertThat(stack.size()).as("frames under an idle stream:\n%s", where).isLessThanOrEqualTo(MAX_FRAMES);
        }
    }

    /** The stack of a thread parked in {@code SseSocket.awaitInputEnd}, from a dump that includes virtual threads. */
    private static Optional<List<String>> parkedHandler() throws Exception {
        Path file = Files.createTempFile("threads", ".json");
        Files.delete(file); // dumpThreads will not overwrite
        try {
            ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                    .dumpThreads(file.toString(), HotSpotDiagnosticMXBean.ThreadDumpFormat.JSON);
            JsonNode dump = new ObjectMapper().readTree(file.toFile());
            for (JsonNode container : dump.path("threadDump").path("threadContainers")) {
                for (JsonNode thread : container.path("threads")) {
                    List<String> stack = new ArrayList<>();
                    thread.path("stack").forEach(f -> stack.add(f.asText()));
                    if (indexOf(stack, "io.cdcnotify.sse.SseSocket.awaitInputEnd") > 0) {
                        return Optional.of(stack);
                    }
                }
            }
            return Optional.empty();
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static int indexOf(List<String> stack, String method) {
        for (int i = 0; i < stack.size(); i++) {
            if (stack.get(i).contains(method + "(")) {
                return i;
            }
        }
        return -1;
    }
}
