package io.cdcnotify.browser;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Makes docs/console.png: the console after half a minute of captured order changes. Not a test; runs only with
 * {@code CDC_CONSOLE_SCREENSHOT=docs/console.png ./mvnw -B test -Dtest=ConsoleScreenshot}.
 */
@EnabledIfEnvironmentVariable(named = "CDC_CONSOLE_SCREENSHOT", matches = ".+")
class ConsoleScreenshot {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    private static final List<String> STATUSES = List.of("pending", "paid", "packed", "shipped", "delivered");
    private static final List<String> CUSTOMERS = List.of("Ada Lovelace", "Grace Hopper", "Alan Turing",
                                                          "Barbara Liskov", "Donald Knuth", "Radia Perlman");

    @Test
    void screenshot() throws Exception {
        try (CdcServer server = CdcServer.start(DB); Browser browser = Browser.launch()) {
            String key = Api.createKey(server, List.of("public.orders"));
            browser.open(server.http("/#key=" + key + "&tables=public.orders"));
            browser.awaitState("open", "websocket");
            ThreadLocalRandom random = ThreadLocalRandom.current();
            Map<Integer, Integer> orders = new java.util.HashMap<>();
            long last = 0;
            long end = System.nanoTime() + 50_000_000_000L;
            int next = 1;
            while (System.nanoTime() < end) {
                int burst = 1 + random.nextInt(random.nextInt(10) == 0 ? 12 : 4);
                for (int i = 0; i < burst; i++) {
                    if (orders.size() < 4 || random.nextInt(4) == 0) {
                        int id = next++;
                        orders.put(id, 0);
                        last = Outbox.insert(DB, "public.orders", "INSERT", "{\"new\": {\"id\": " + id
                                + ", \"customer\": \"" + CUSTOMERS.get(random.nextInt(CUSTOMERS.size()))
                                + "\", \"status\": \"pending\", \"total\": " + (5 + random.nextInt(120)) + ".90},"
                                + " \"old\": null, \"key\": {\"id\": " + id + "}}");
                    } else {
                        Integer id = orders.keySet().stream().skip(random.nextInt(orders.size())).findFirst().orElseThrow();
                        int step = orders.get(id);
                        if (step + 1 >= STATUSES.size()) {
                            orders.remove(id);
                            last = Outbox.insert(DB, "public.orders", "DELETE", "{\"new\": null, \"old\": {\"id\": "
                                    + id + ", \"status\": \"delivered\"}, \"key\": {\"id\": " + id + "}}");
                        } else {
                            orders.put(id, step + 1);
                            last = Outbox.insert(DB, "public.orders", "UPDATE", "{\"new\": {\"id\": " + id
                                    + ", \"status\": \"" + STATUSES.get(step + 1) + "\"}, \"old\": {\"id\": " + id
                                    + ", \"status\": \"" + STATUSES.get(step) + "\"}, \"key\": {\"id\": " + id + "}}");
                        }
                    }
                }
                Thread.sleep(150 + random.nextInt(300));
            }
            String shown = String.valueOf(last);
            browser.await("the last event", b -> b.eventIds().contains(shown));
            browser.script("document.querySelectorAll('#events tr[data-id]')[2].click();"); // no scrolling
            Files.write(Path.of(System.getenv("CDC_CONSOLE_SCREENSHOT")), browser.screenshot());
        }
    }
}
