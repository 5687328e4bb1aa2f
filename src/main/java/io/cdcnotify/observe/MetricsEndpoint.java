package io.cdcnotify.observe;

import java.util.List;
import java.util.Optional;

import io.helidon.common.HelidonServiceLoader;
import io.helidon.common.media.type.MediaType;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.config.Config;
import io.helidon.http.HeaderValues;
import io.helidon.http.Status;
import io.helidon.metrics.api.MeterRegistry;
import io.helidon.metrics.api.MeterRegistryFormatter;
import io.helidon.metrics.api.MetricsConfig;
import io.helidon.metrics.api.SystemTagsManager;
import io.helidon.metrics.spi.MeterRegistryFormatterProvider;
import io.helidon.webserver.http.Handler;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * {@code GET /metrics}: the registry as Prometheus text ({@code text/plain}), or OpenMetrics for a scraper that
 * asks for it ({@code Accept: application/openmetrics-text}), through Helidon's formatters, as its metrics
 * observer answers; {@code ?scope=} and {@code ?name=} narrow it the same way. Not the observer itself: that
 * brings a filter of its own (Helidon's request counter), and every filter is three frames under every handler,
 * which a parked SSE stream keeps in the heap for as long as it is open (~1 kB a stream; docs/benchmarks.md,
 * "Session 11"). {@code cdc_http_responses_total} counts what that counter counted.
 */
final class MetricsEndpoint implements Handler {

    private static final MediaType[] OFFERED = {MediaTypes.TEXT_PLAIN, MediaTypes.APPLICATION_OPENMETRICS_TEXT};

    private final MeterRegistry registry;
    private final MetricsConfig config;
    private final List<MeterRegistryFormatterProvider> formatters;
    private final Optional<String> scopeTag;

    MetricsEndpoint(MeterRegistry registry, Config metricsConfig) {
        this.registry = registry;
        this.config = MetricsConfig.create(metricsConfig);
        this.formatters = HelidonServiceLoader.create(java.util.ServiceLoader.load(MeterRegistryFormatterProvider.class))
                .asList();
        this.scopeTag = SystemTagsManager.instance().scopeTagName();
    }

    @Override
    public void handle(ServerRequest req, ServerResponse res) {
        res.header(HeaderValues.CACHE_NO_CACHE);
        res.header(HeaderValues.X_CONTENT_TYPE_OPTIONS_NOSNIFF);
        Optional<MediaType> type = req.headers().bestAccepted(OFFERED);
        Optional<MeterRegistryFormatter> formatter = type.flatMap(t -> formatter(t, req));
        if (formatter.isEmpty()) {
            res.status(Status.NOT_ACCEPTABLE_406).send();
            return;
        }
        Optional<Object> text = formatter.get().format();
        if (text.isEmpty()) {
            res.status(Status.NOT_FOUND_404).send(); // a selection that matches no meter, as Helidon answers it
            return;
        }
        res.status(Status.OK_200);
        res.headers().contentType(type.get());
        res.send(text.get().toString());
    }

    private Optional<MeterRegistryFormatter> formatter(MediaType type, ServerRequest req) {
        List<String> scopes = req.query().all("scope", List::of);
        List<String> names = req.query().all("name", List::of);
        for (MeterRegistryFormatterProvider provider : formatters) {
            Optional<MeterRegistryFormatter> f = provider.formatter(type, config, registry, scopeTag, scopes, names);
            if (f.isPresent()) {
                return f;
            }
        }
        return Optional.empty();
    }
}
