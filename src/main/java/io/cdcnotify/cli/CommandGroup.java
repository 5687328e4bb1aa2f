package io.cdcnotify.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * A command that only groups subcommands ({@code keys}, {@code captures}): without one, a usage error that lists
 * them. Its subcommands print JSON on stdout and name their usage errors.
 */
abstract class CommandGroup implements Callable<Integer> {

    final Factory factory;
    @Spec
    CommandSpec spec;

    CommandGroup(Factory factory) {
        this.factory = factory;
    }

    @Override
    public final Integer call() {
        throw new ParameterException(spec.commandLine(), "missing command: one of "
                                                         + String.join(", ", spec.subcommands().keySet()
                                                                 .stream().filter(n -> !n.equals("help")).toList()));
    }

    /** A usage error of {@code subcommand}, so that the hint points at its --help. */
    ParameterException usage(String subcommand, String message) {
        return new ParameterException(spec.commandLine().getSubcommands().get(subcommand), message);
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }
}
