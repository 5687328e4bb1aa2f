package io.cdcnotify.cli;

import java.util.List;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.cdcnotify.api.CapturesService;
import io.cdcnotify.db.Captures;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code captures add|list|remove}: capture tables without the REST API. JSON on stdout; exit code 2 for usage
 * and invalid input (a malformed name, unknown or key columns to exclude), 1 for a refusal (no such table, not
 * capturable).
 */
@Command(name = "captures",
        mixinStandardHelpOptions = true,
        description = {"Captures tables: a trigger writes every INSERT, UPDATE and DELETE of the table to the outbox, "
                       + "as events named after the table with the payload {new, old, key}. Against the configured "
                       + "database (DB_URL); JSON on stdout."},
        commandListHeading = "%nCommands:%n")
final class CapturesCommand extends CommandGroup {

    CapturesCommand(Factory factory) {
        super(factory);
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Installs the capture trigger on TABLE (schema.table) and prints the capture.")
    int add(@Parameters(paramLabel = "TABLE", description = "the table to capture, e.g. public.orders") String table,
            @Option(names = "--exclude", split = ",", paramLabel = "COLUMN",
                    description = "columns left out of the events, comma-separated") List<String> exclude) {
        try {
            out().println(CapturesService.toJson(factory.captures().add(table, exclude == null ? List.of() : exclude)));
            return 0;
        } catch (Captures.Refused e) {
            if (e.invalid()) { // the request itself is wrong: a usage error, named
                throw usage("add", e.getMessage());
            }
            throw e; // a refusal: Cli prints its message and exits with 1
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Prints the captured tables as a JSON array.")
    int list() {
        ArrayNode all = JsonNodeFactory.instance.arrayNode();
        factory.captures().list().forEach(c -> all.add(CapturesService.toJson(c)));
        out().println(all);
        return 0;
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = "Drops TABLE's capture trigger; events already in the outbox stay.")
    int remove(@Parameters(paramLabel = "TABLE") String table) {
        if (!factory.captures().remove(table)) {
            spec.commandLine().getErr().println("not captured: " + table);
            return 1;
        }
        out().println("{\"released\":\"" + table + "\"}");
        return 0;
    }
}
