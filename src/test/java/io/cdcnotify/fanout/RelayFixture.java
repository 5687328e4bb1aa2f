package io.cdcnotify.fanout;

import java.io.IOException;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.nats.client.Connection;
import io.nats.client.JetStreamApiException;
import io.nats.client.Nats;
import io.nats.client.Options;

/** Relay-mode settings for tests: a stream and subject prefix of their own, on the shared or a private NATS. */
final class RelayFixture {

    static final String SHARED_NATS = env("CDC_TEST_NATS_URL", "nats://127.0.0.1:4222");

    final String url;
    final String stream;
    final String prefix;

    RelayFixture(String url, Class<?> owner) {
        this.url = url;
        String suffix = Integer.toHexString(ThreadLocalRandom.current().nextInt());
        this.stream = ("T_" + owner.getSimpleName() + "_" + suffix).toUpperCase(Locale.ROOT);
        this.prefix = "cdctest." + owner.getSimpleName().toLowerCase(Locale.ROOT) + "-" + suffix;
    }

    /** The configuration keys that put an instance in relay mode on this fixture's stream. */
    Map<String, String> keys() {
        return Map.of("cdc.fanout.mode", "nats",
                      "cdc.fanout.nats-url", url,
                      "cdc.fanout.stream", stream,
                      "cdc.fanout.subject-prefix", prefix,
                      "cdc.fanout.partition-close-seconds", "3");
    }

    /** Deletes the stream; quietly when NATS is gone. */
    void deleteStream() {
        try (Connection nats = Nats.connect(Options.builder().server(url).connectionTimeout(Duration.ofSeconds(2)).build())) {
            nats.jetStreamManagement().deleteStream(stream);
        } catch (IOException | JetStreamApiException | InterruptedException e) {
            // nothing to clean
        }
    }

    long lastSequence() throws Exception {
        try (Connection nats = Nats.connect(Options.builder().server(url).connectionTimeout(Duration.ofSeconds(2)).build())) {
            return nats.jetStreamManagement().getStreamInfo(stream).getStreamState().getLastSequence();
        }
    }

    /** How many consumers the stream has now. */
    long consumers() throws Exception {
        try (Connection nats = Nats.connect(Options.builder().server(url).connectionTimeout(Duration.ofSeconds(2)).build())) {
            return nats.jetStreamManagement().getStreamInfo(stream).getStreamState().getConsumerCount();
        }
    }

    /** The {@code fanout} object of an instance's {@code /v1/state}. */
    static JsonNode fanout(CdcServer server) {
        return Api.get(server.http("/v1/state"), CdcServer.ADMIN_KEY).json().get("fanout");
    }

    static boolean leads(CdcServer server) {
        try {
            return fanout(server).get("leader").asBoolean();
        } catch (RuntimeException | AssertionError e) {
            return false;
        }
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}
