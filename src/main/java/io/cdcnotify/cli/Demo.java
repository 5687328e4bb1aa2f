package io.cdcnotify.cli;

import java.time.Duration;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code demo}: the service with a table that changes on its own, to see events a minute after checkout. */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        description = {
                "Starts the service (as 'serve' does) together with a demo table in the configured database whose "
                + "rows change every --interval-ms, and an API key that may read it. Prints the console link "
                + "(with the key in it) and a curl command for the SSE stream, then runs until Ctrl-C, when it "
                + "revokes its key. Needs nothing but the database."})
final class Demo implements Callable<Integer> {

    private final Factory factory;
    @Spec
    private CommandSpec spec;
    @Option(names = "--interval-ms", paramLabel = "MS", defaultValue = "500",
            description = "time between two changes, at least 10 (default: ${DEFAULT-VALUE})")
    private long intervalMs;

    Demo(Factory factory) {
        this.factory = factory;
    }

    @Override
    public Integer call() {
        if (intervalMs < 10) {
            throw new ParameterException(spec.commandLine(),
                                         "--interval-ms must be a whole number of milliseconds, at least 10");
        }
        return factory.demo(Duration.ofMillis(intervalMs));
    }
}
