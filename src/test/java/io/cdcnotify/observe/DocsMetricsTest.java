package io.cdcnotify.observe;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.cdcnotify.testing.CdcFixture;
import io.cdcnotify.testing.WsTestClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * docs/observability.md against a live {@code /metrics}: every metric the page names is exported, under that
 * name, and what the page says of the endpoint and of {@code cdc_http_responses_total} holds. Keeps the page
 * from drifting from the service.
 */
class DocsMetricsTest {

    @RegisterExtension
    static final CdcFixture CDC = CdcFixture.sharedServer();

    private static final Path PAGE = Path.of("docs/observability.md");
    /** A metric name in backquotes, perhaps followed by its labels ({@code `gc_total{name}`}). */
    private static final Pattern NAME = Pattern.compile("`([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{[^}`]*})?`");


    /** The section of the page about {@code /metrics}: from its heading to the next section of the same level. */
    private static String metricsSection() throws Exception {
        String page = Files.readString(PAGE);
        int from = page.indexOf("## Metrics");
        int to = page.indexOf("\n## ", from + 1);
        assertThat(from).as("a '## Metrics' section").isNotNegative();
        return page.substring(from, to);
    }

    /** The names in the first column of every table row in that section. */
    static List<String> documentedNames(String section) {
        Set<String> names = new LinkedHashSet<>();
        for (String line : section.split("\n")) {
            if (!line.startsWith("| `")) {
                continue;
            }
            Matcher m = NAME.matcher(line.split("\\|")[1]);
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return new ArrayList<>(names);
    }

    @Test
    void everyMetricThePageNamesIsExported() throws Exception {
        List<String> documented = documentedNames(metricsSection());
        assertThat(documented).as("metric names found in the page").hasSizeGreaterThan(20)
                .contains("cdc_events_received_total", "cdc_http_responses_total", "process_open_fds");
        Scrape scrape = Scrape.of(CDC.server());
        Set<String> exported = new LinkedHashSet<>(scrape.types().keySet());
        scrape.samples().forEach(s -> exported.add(s.name()));
        List<String> missing = documented.stream().filter(n -> !exported.contains(n)).toList();
        assertThat(missing).as("named in %s but not in /metrics:\n%s", PAGE, String.join("\n", exported)).isEmpty();
    }

    @Test
    void theMetricsOperationsMdNamesAreExportedToo() throws Exception {
        Matcher m = Pattern.compile("`((?:cdc|memory|jvm|process|gc|thread)_[a-zA-Z0-9_]+)(?:\\{[^}`]*})?`")
                .matcher(Files.readString(Path.of("docs/operations.md")));
        List<String> named = new ArrayList<>();
        while (m.find()) {
            named.add(m.group(1));
        }
        assertThat(named).contains("memory_usedHeap_bytes");
        Scrape scrape = Scrape.of(CDC.server());
        Set<String> exported = new LinkedHashSet<>(scrape.types().keySet());
        scrape.samples().forEach(s -> exported.add(s.name()));
        assertThat(named).allSatisfy(n -> assertThat(exported).as("docs/operations.md names %s", n).contains(n));
    }

    @Test
    void theContentTypeIsTheOneThePageGives() throws Exception {
        Matcher said = Pattern.compile("Prometheus text format \\(`([^`]+)`\\)").matcher(metricsSection());
        assertThat(said.find()).as("the page names the content type").isTrue();
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> res = http.send(HttpRequest.newBuilder(CDC.server().http("/metrics")).build(),
                                                 HttpResponse.BodyHandlers.ofString());
            assertThat(res.headers().firstValue("content-type")).hasValue(said.group(1));
        }
    }

    @Test
    void aScraperThatAsksForOpenMetricsGetsIt() throws Exception {
        assertThat(metricsSection()).contains("(`Accept: application/openmetrics-text`) gets OpenMetrics");
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> res = http.send(HttpRequest.newBuilder(CDC.server().http("/metrics"))
                                                         .header("Accept", "application/openmetrics-text").build(),
                                                 HttpResponse.BodyHandlers.ofString());
            assertThat(res.headers().firstValue("content-type").orElse("")).startsWith("application/openmetrics-text");
            assertThat(res.body()).contains("# EOF");
        }
    }

    @Test
    void aScraperThatAcceptsNeitherGets406() throws Exception {
        assertThat(metricsSection()).contains("one that accepts neither gets 406");
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> res = http.send(HttpRequest.newBuilder(CDC.server().http("/metrics"))
                                                         .header("Accept", "application/json").build(),
                                                 HttpResponse.BodyHandlers.ofString());
            assertThat(res.statusCode()).isEqualTo(406);
        }
    }

    @Test
    void scopeAndNameNarrowTheAnswerAndASelectionOfNothingIs404() throws Exception {
        assertThat(metricsSection()).contains("`?scope=application`")
                .contains("`?name=<meter>` narrow the answer (a selection that matches nothing is 404)");
        Scrape application = Scrape.parse(get("/metrics?scope=application", 200));
        assertThat(application.types()).containsKey("cdc_events_received_total").doesNotContainKey("memory_usedHeap_bytes");
        Scrape base = Scrape.parse(get("/metrics?scope=base", 200));
        assertThat(base.types()).containsKey("memory_usedHeap_bytes").doesNotContainKey("cdc_events_received_total");
        Scrape one = Scrape.parse(get("/metrics?name=cdc_events_received", 200));
        assertThat(one.types().keySet()).containsExactly("cdc_events_received_total");
        get("/metrics?name=no_such_meter", 404);
    }

    @Test
    void helidonsRequestCounterIsGoneAndThePageSaysSo() throws Exception {
        assertThat(metricsSection()).contains("**No `requests_count_total`.**");
        assertThat(Scrape.of(CDC.server()).types()).doesNotContainKey("requests_count_total");
    }

    private static String get(String pathAndQuery, int status) throws Exception {
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> res = http.send(HttpRequest.newBuilder(CDC.server().http(pathAndQuery)).build(),
                                                 HttpResponse.BodyHandlers.ofString());
            assertThat(res.statusCode()).as(pathAndQuery + ": " + res.body()).isEqualTo(status);
            return res.body();
        }
    }

    @Test
    void aWebSocketUpgradeCountsOnceAsOneXx() throws Exception {
        String row = metricsSection().lines().filter(l -> l.startsWith("| `cdc_http_responses_total`"))
                .findFirst().orElseThrow();
        assertThat(row).contains("WebSocket upgrade counts once, as `1xx`");
        Scrape before = Scrape.of(CDC.server());
        try (WsTestClient ws = WsTestClient.connect(CDC.server().ws("/v1/ws"))) {
            assertThat(ws).isNotNull(); // the upgrade (101) is what counts, not how the connection goes on
        }
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> {
            Scrape after = Scrape.of(CDC.server());
            assertThat(after.value("cdc_http_responses_total", Map.of("status", "1xx"))
                       - before.value("cdc_http_responses_total", Map.of("status", "1xx"))).isEqualTo(1);
        });
    }
}
