package io.cdcnotify.testing;

import java.time.Duration;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.nats.client.Connection;
import io.nats.client.Nats;
import io.nats.client.Options;

/**
 * Runs any test's servers in relay mode when {@code CDC_TEST_FANOUT=nats} (or {@code -Dcdc.test.fanout=nats}):
 * the servers of one test database share one stream on the NATS server of {@code CDC_TEST_NATS_URL} (default
 * {@code nats://127.0.0.1:4222}), deleted when the last of them closes. Without it, nothing changes.
 */
public final class RelayMode {

    private static final String MODE = System.getProperty("cdc.test.fanout", System.getenv().getOrDefault("CDC_TEST_FANOUT", ""));
    private static final String URL = System.getenv().getOrDefault("CDC_TEST_NATS_URL", "nats://127.0.0.1:4222");
    private static final Map<String, Integer> OPEN = new ConcurrentHashMap<>();

    private RelayMode() {
    }

    static boolean on() {
        return "nats".equalsIgnoreCase(MODE);
    }

    /** The keys with relay mode's added (a test's own keys win), or the keys as they are. */
    static Map<String, String> apply(TestDatabase db, Map<String, String> keys) {
        if (!on() || keys.containsKey("cdc.fanout.mode")) {
            return keys;
        }
        String name = database(db);
        Map<String, String> all = new HashMap<>();
        all.put("cdc.fanout.mode", "nats");
        all.put("cdc.fanout.nats-url", URL);
        all.put("cdc.fanout.stream", "T_" + name.toUpperCase(Locale.ROOT));
        all.put("cdc.fanout.subject-prefix", "cdctest." + name);
        all.put("cdc.fanout.max-age-seconds", "600");
        all.putAll(keys);
        OPEN.merge(name, 1, Integer::sum);
        return all;
    }

    /** After a server of this database closed: the last one deletes the stream. */
    static void closed(TestDatabase db, Map<String, String> keys) {
        String name = database(db);
        if (!on() || !keys.containsKey("cdc.fanout.stream") || !keys.get("cdc.fanout.stream").equals("T_" + name.toUpperCase(Locale.ROOT))) {
            return;
        }
        if (OPEN.merge(name, -1, Integer::sum) > 0) {
            return;
        }
        OPEN.remove(name);
        try (Connection nats = Nats.connect(Options.builder().server(URL).connectionTimeout(Duration.ofSeconds(2)).build())) {
            nats.jetStreamManagement().deleteStream("T_" + name.toUpperCase(Locale.ROOT));
        } catch (Exception e) {
            // nothing to clean
        }
    }

    private static String database(TestDatabase db) {
        return db.url().substring(db.url().lastIndexOf('/') + 1);
    }
}
