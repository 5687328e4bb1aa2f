package io.cdcnotify.cli;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code health}: asks the service running on this machine whether it is healthy. The Docker image's
 * HEALTHCHECK runs it, because the image has no curl and its shell (dash) cannot open a socket.
 */
@Command(name = "health",
        mixinStandardHelpOptions = true,
        description = {
                "Asks the service on this machine whether it is healthy: GET /health on 127.0.0.1 at the "
                + "configured port (SERVER_PORT or server.port, default 8080). Prints the answer; exit code 0 on "
                + "200 (UP), 1 on anything else (DOWN, no answer within the timeout). The Docker image's "
                + "HEALTHCHECK runs this."})
final class Health implements Callable<Integer> {

    private final Factory factory;
    @Spec
    private CommandSpec spec;
    @Option(names = "--url", paramLabel = "URL", description = "ask this URL instead, e.g. http://10.0.0.5:8080/health")
    private URI url;
    @Option(names = "--timeout-ms", paramLabel = "MS", defaultValue = "2000",
            description = "how long to wait for the answer (default: ${DEFAULT-VALUE})")
    private long timeoutMs;

    Health(Factory factory) {
        this.factory = factory;
    }

    @Override
    public Integer call() throws InterruptedException {
        URI target = url != null ? url
                : URI.create("http://127.0.0.1:" + factory.config().get("server.port").asInt().orElse(8080) + "/health");
        Duration timeout = Duration.ofMillis(Math.max(1, timeoutMs));
        try (HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(timeout)
                .build()) {
            HttpResponse<String> res = http.send(HttpRequest.newBuilder(target).timeout(timeout).GET().build(),
                                                 HttpResponse.BodyHandlers.ofString());
            (res.statusCode() == 200 ? spec.commandLine().getOut() : spec.commandLine().getErr())
                    .println(res.statusCode() + " " + res.body());
            return res.statusCode() == 200 ? 0 : 1;
        } catch (IOException e) {
            spec.commandLine().getErr().println("health: no answer from " + target + ": " + e);
            return 1;
        }
    }
}
