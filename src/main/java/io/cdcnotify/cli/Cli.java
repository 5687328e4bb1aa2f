package io.cdcnotify.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * {@code java -jar cdc-notify.jar [COMMAND]}: the command line. With no command it starts the service. Help
 * goes to stdout with exit code 0; a usage error names its culprit on stderr with exit code 2; a command that
 * fails says why on stderr with exit code 1.
 */
public final class Cli {

    /** Exit code of a usage error: an unknown command or option, a missing or malformed value. */
    public static final int USAGE = 2;

    private Cli() {
    }

    /** Parses {@code args}, runs the command it names with parts from {@code factory}; the exit code. */
    public static int run(Factory factory, String[] args, PrintStream out, PrintStream err) {
        CommandLine cli = commandLine(factory);
        cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cli.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        try {
            return cli.execute(args);
        } finally {
            cli.getOut().flush();
            cli.getErr().flush();
        }
    }

    static CommandLine commandLine(Factory factory) {
        CommandLine cli = new CommandLine(new Root(factory))
                .addSubcommand(new Serve(factory))
                .addSubcommand(new KeysCommand(factory))
                .addSubcommand(new CapturesCommand(factory))
                .addSubcommand(new DemoCommand(factory))
                .addSubcommand(new Health(factory))
                .addSubcommand(new CommandLine.HelpCommand());
        cli.getCommandSpec().version("cdc-notify " + factory.version());
        cli.setParameterExceptionHandler(Cli::usageError);
        cli.setExecutionExceptionHandler((e, command, parsed) -> {
            command.getErr().println(name(command) + ": " + e.getMessage());
            return 1;
        });
        return cli;
    }

    /** One line that names what was wrong, and where to read more; not the whole usage page. */
    private static int usageError(ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        PrintWriter err = command.getErr();
        String message = e.getMessage();
        if (e instanceof UnmatchedArgumentException unmatched && !command.getSubcommands().isEmpty()
            && !unmatched.getUnmatched().isEmpty() && !unmatched.getUnmatched().getFirst().startsWith("-")) {
            message = "unknown command '" + unmatched.getUnmatched().getFirst() + "'";
        }
        err.println(name(command) + ": " + message);
        UnmatchedArgumentException.printSuggestions(e, err);
        err.println("Try '" + command.getCommandSpec().qualifiedName() + " --help'.");
        return USAGE;
    }

    private static String name(CommandLine command) {
        return command.getCommandSpec().qualifiedName();
    }

    @Command(name = "cdc-notify",
            mixinStandardHelpOptions = true,
            synopsisSubcommandLabel = "[COMMAND]",
            description = {
                    "Real-time change notifications from PostgreSQL to WebSocket and Server-Sent Events clients.",
                    "",
                    "With no command, starts the service (the same as 'serve'). Every command reads the "
                    + "configuration the service would: environment variables (SERVER_PORT, DB_URL, "
                    + "CDC_ADMIN_KEY, ...) over application.yaml in the working directory over the defaults in "
                    + "the jar; see the README."},
            commandListHeading = "%nCommands:%n",
            footer = {"", "Each command has its own --help, e.g. 'cdc-notify keys create --help'."})
    static final class Root implements Callable<Integer> {
        private final Factory factory;

        Root(Factory factory) {
            this.factory = factory;
        }

        @Override
        public Integer call() {
            return factory.serve();
        }
    }

    @Command(name = "serve",
            mixinStandardHelpOptions = true,
            description = {
                    "Runs the service until it gets SIGTERM or Ctrl-C: HTTP, WebSocket and SSE on SERVER_PORT "
                    + "(default 8080), the web console at /, against the database DB_URL (schema cdc is created and "
                    + "migrated at start). This is what no command does."})
    static final class Serve implements Callable<Integer> {
        private final Factory factory;

        Serve(Factory factory) {
            this.factory = factory;
        }

        @Override
        public Integer call() {
            return factory.serve();
        }
    }
}
