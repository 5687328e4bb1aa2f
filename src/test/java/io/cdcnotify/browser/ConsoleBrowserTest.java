package io.cdcnotify.browser;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import io.cdcnotify.testing.Api;
import io.cdcnotify.testing.CdcServer;
import io.cdcnotify.testing.Outbox;
import io.cdcnotify.testing.TestDatabase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openqa.selenium.By;
import org.openqa.selenium.WebElement;

/**
 * The web console in a real (headless) Chromium, against the real service: it connects, shows events as they
 * commit, rides out a server that goes away without losing or repeating an event, and falls back to SSE where
 * WebSocket cannot get through.
 */
class ConsoleBrowserTest {

    @RegisterExtension
    static final TestDatabase DB = new TestDatabase();

    /** Replaces WebSocket, before the page's scripts run, with one that never connects, as a blocking proxy. */
    private static final String BLOCK_WEBSOCKET = """
            window.webSocketAttempts = 0;
            window.WebSocket = class BlockedWebSocket extends EventTarget {
              static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
              constructor(url) {
                super();
                window.webSocketAttempts++;
                this.url = url;
                this.readyState = 0;
                setTimeout(() => {
                  this.readyState = 3;
                  const error = new Event('error');
                  this.onerror?.(error);
                  this.dispatchEvent(error);
                  const close = new CloseEvent('close', { code: 1006, reason: '', wasClean: false });
                  this.onclose?.(close);
                  this.dispatchEvent(close);
                }, 20);
              }
              send() { throw new DOMException('the socket is not open', 'InvalidStateError'); }
              close() {}
            };
            """;

    private final List<CdcServer> servers = new ArrayList<>();
    private Browser browser;

    @BeforeEach
    void launch() {
        browser = Browser.launch();
    }

    @AfterEach
    void close() {
        try {
            browser.close();
        } finally {
            servers.forEach(CdcServer::close);
        }
    }

    @Test
    void connectsWithAKeyAndTablesAndShowsEventsAsTheyCommit() throws SQLException {
        CdcServer server = start(Map.of());
        String key = Api.createKey(server, List.of("orders", "customers"));
        browser.open(server.http("/"));
        browser.find("api-key").sendKeys(key);
        browser.find("tables").sendKeys("orders, customers");
        browser.find("connect").click();
        browser.awaitState("open", "websocket");

        long invoice = Outbox.insert(DB, "invoices", "INSERT", "{\"id\": 7}"); // not subscribed
        long order = Outbox.insert(DB, "orders", "INSERT", "{\"id\": 1, \"status\": \"pending\"}");
        long customer = Outbox.insert(DB, "customers", "UPDATE", "{\"id\": 9, \"name\": \"Ada\"}");
        long deleted = Outbox.insert(DB, "orders", "DELETE", "{\"id\": 1}");
        List<String> expected = List.of(String.valueOf(deleted), String.valueOf(customer), String.valueOf(order));
        browser.await("the three subscribed events, newest first", b -> b.eventIds().equals(expected));
        assertThat(browser.eventIds()).doesNotContain(String.valueOf(invoice));

        WebElement row = browser.find("events").findElement(By.cssSelector("tr[data-id='" + customer + "']"));
        List<String> cells = row.findElements(By.tagName("td")).stream().map(WebElement::getText).toList();
        assertThat(cells.subList(0, 4)).containsExactly(String.valueOf(customer), "customers", "UPDATE",
                                                        "id=9, name=Ada");
        assertThat(cells.get(4)).matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z");
        row.click();
        assertThat(browser.text("detail")).contains("\"name\": \"Ada\"", "\"table\": \"customers\"");
        assertThat(browser.text("error")).isEmpty();
    }

    @Test
    void firstRunHintThenTheStateSummaryAndChartWithNoCallTheKeyMayNotMake() throws Exception {
        CdcServer server = start(Map.of());
        String key = Api.createKey(server, List.of("orders"));
        browser.open(server.http("/"));
        assertThat(browser.find("hint").isDisplayed()).as("a first-run hint while there is no key").isTrue();
        assertThat(browser.text("hint")).contains("keys create", "/v1/keys", "demo");
        assertThat(browser.find("summary").isDisplayed()).isFalse();

        browser.find("api-key").sendKeys(key);
        browser.find("tables").sendKeys("orders");
        browser.find("connect").click();
        browser.awaitState("open", "websocket");
        assertThat(browser.find("hint").isDisplayed()).isFalse();
        // The summary is /v1/state, polled: it comes to show this very connection.
        browser.await("the /v1/state summary", b -> b.find("summary").isDisplayed()
                                                    && b.text("state-connections").startsWith("1 (1 WebSocket, 0 SSE)"));
        assertThat(browser.text("state-subscriptions")).isEqualTo("1");
        assertThat(browser.text("state-listener")).startsWith("connected");
        assertThat(browser.text("state-lag")).matches("\\d+ ms");
        assertThat(browser.text("state-key")).endsWith(": orders").doesNotContain("admin");
        assertThat(browser.find("tab-subscriptions").isDisplayed()).isTrue();
        assertThat(browser.find("tab-keys").isDisplayed()).isFalse();
        assertThat(browser.find("tab-captures").isDisplayed()).isFalse();

        // A captured row's {new, old, key} reads as what changed; the chart counts it.
        long id = Outbox.insert(DB, "orders", "UPDATE",
                                "{\"new\": {\"id\": 5, \"status\": \"shipped\"}, \"old\": {\"id\": 5, \"status\": \"paid\"},"
                                + " \"key\": {\"id\": 5}}");
        browser.await("the event", b -> b.eventIds().contains(String.valueOf(id)));
        WebElement row = browser.find("events").findElement(By.cssSelector("tr[data-id='" + id + "']"));
        assertThat(row.findElements(By.tagName("td")).get(3).getText()).isEqualTo("id=5 · status: paid → shipped");
        browser.await("the chart counting it", b -> "1".equals(b.find("chart").getAttribute("data-events")));
        browser.find("tab-subscriptions").click();
        browser.await("the subscription listed", b -> !b.find("subscriptions").findElements(By.tagName("tr")).isEmpty());

        // Nothing red in the browser's console: no 403 from an admin-only call, no missing favicon.
        assertThat(browser.consoleErrors()).isEmpty();
        assertThat(Api.get(server.http("/favicon.ico"), null).status()).isEqualTo(200);
        browser.open(server.http("/no-such-page"));
        assertThat(browser.consoleErrors()).as("the check sees a failed request").anyMatch(e -> e.contains("404"));
    }

    @Test
    void anAdminKeySeesTheAdminViewsAndNothingRedEither() {
        CdcServer server = start(Map.of());
        browser.open(server.http("/#key=" + CdcServer.ADMIN_KEY + "&tables=orders"));
        browser.awaitState("open", "websocket");
        browser.await("the admin's views", b -> b.find("tab-keys").isDisplayed() && b.find("tab-captures").isDisplayed());
        assertThat(browser.text("state-key")).isEqualTo("admin (admin)");
        browser.find("tab-keys").click();
        browser.find("tab-captures").click();
        browser.find("tab-live").click();
        assertThat(browser.consoleErrors()).isEmpty();
        assertThat(browser.text("error")).isEmpty();
    }

    @Test
    void aLinkWithKeyAndTablesConnectsAtOnceAndLeavesNoKeyInTheAddressBar() throws SQLException {
        CdcServer server = start(Map.of());
        String key = Api.createKey(server, List.of("orders"));
        for (String link : List.of("/#key=" + key + "&tables=orders", "/?key=" + key + "&tables=orders")) {
            browser.open(server.http(link));
            browser.awaitState("open", "websocket");
            assertThat(browser.currentUrl()).doesNotContain(key).doesNotContain("tables=");
            assertThat(browser.find("tables").getAttribute("value")).isEqualTo("orders");
            String id = String.valueOf(Outbox.insert(DB, "orders", "INSERT", "{\"id\": 2}"));
            browser.await("event " + id + " shown", b -> b.eventIds().contains(id));
        }
    }

    @Test
    void resumesWithoutLossOrRepeatsAfterTheServerGoesAway() throws SQLException {
        CdcServer first = start(Map.of());
        int port = first.port();
        String key = Api.createKey(first, List.of("orders"));
        browser.open(first.http("/#key=" + key + "&tables=orders"));
        browser.awaitState("open", "websocket");

        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ids.add(String.valueOf(Outbox.insert(DB, "orders", "INSERT", "{\"n\": " + i + "}")));
        }
        browser.await("the first events", b -> b.eventIds().containsAll(ids));

        // The server goes away (it closes every socket, 1001), and events commit while the console is cut off.
        first.close();
        servers.remove(first);
        browser.await("the console noticing", b -> !"open".equals(b.find("state").getAttribute("data-state")));
        for (int i = 5; i < 15; i++) {
            ids.add(String.valueOf(Outbox.insert(DB, "orders", "INSERT", "{\"n\": " + i + "}")));
        }
        start(Map.of("server.port", String.valueOf(port)));
        browser.awaitState("open", "websocket");
        for (int i = 15; i < 20; i++) {
            ids.add(String.valueOf(Outbox.insert(DB, "orders", "INSERT", "{\"n\": " + i + "}")));
        }

        browser.await("all 20 events", b -> b.eventIds().containsAll(ids));
        List<String> shown = browser.eventIds();
        assertThat(shown).as("every event exactly once, newest first").containsExactlyElementsOf(ids.reversed());
        assertThat(browser.notes()).anyMatch(n -> n.contains("reconnected, resumed from cursor"));
    }

    @Test
    void fallsBackToSseWhenWebSocketIsBlocked() throws SQLException {
        browser.beforeEveryPage(BLOCK_WEBSOCKET);
        CdcServer server = start(Map.of());
        String key = Api.createKey(server, List.of("orders"));
        browser.open(server.http("/#key=" + key + "&tables=orders"));
        browser.awaitState("open", "sse");
        assertThat(browser.<Long>script("return window.webSocketAttempts;")).isGreaterThanOrEqualTo(1L);

        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            ids.add(String.valueOf(Outbox.insert(DB, "orders", "UPDATE", "{\"n\": " + i + "}")));
        }
        browser.await("the events over SSE", b -> b.eventIds().equals(ids.reversed()));
        JsonNode connections = Api.get(server.http("/v1/state"), key).json().get("connections");
        assertThat(connections.get("sse").asInt()).isEqualTo(1);
        assertThat(connections.get("websocket").asInt()).isZero();
    }

    private CdcServer start(Map<String, String> keys) {
        CdcServer server = CdcServer.start(DB, keys);
        servers.add(server);
        return server;
    }
}
