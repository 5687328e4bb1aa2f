package io.cdcnotify.cli;

import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.api.KeysService;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.wire.TableNames;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code keys create|list|revoke}: the first keys, without the REST API, against the configured database.
 * Output is JSON on stdout; problems go to stderr with exit code 2 (usage) or 1 (failure).
 */
@Command(name = "keys",
        mixinStandardHelpOptions = true,
        description = {"Creates, lists and revokes API keys in the configured database (DB_URL), without the REST "
                       + "API: the way to the first key. Output is JSON on stdout."},
        commandListHeading = "%nCommands:%n")
final class KeysCommand extends CommandGroup {

    KeysCommand(Factory factory) {
        super(factory);
    }

    @Command(name = "create",
            mixinStandardHelpOptions = true,
            description = {"Makes a key and prints it as JSON, its secret in \"key\": shown this once, stored only "
                           + "as a hash."})
    int create(@Option(names = "--name", paramLabel = "NAME", description = "what the key is for (shown in lists)")
               String name,
               @Option(names = "--tables", paramLabel = "a,b", description = "tables the key may read; * for all")
               String tables,
               @Option(names = "--admin", description = "may also manage keys, subscriptions of all keys and captures")
               boolean admin,
               @Option(names = "--expires", paramLabel = "TIMESTAMP",
                       description = "ISO-8601 with an offset, e.g. 2027-01-01T00:00:00Z; default: never")
               String expires) {
        if (name == null || name.isBlank()) {
            throw usage("create", "--name is required");
        }
        List<String> tableList = tables == null ? List.of() : Arrays.asList(tables.split(",", -1));
        Optional<String> problem = TableNames.problem(tableList);
        if (problem.isPresent()) {
            throw usage("create", "--tables: " + problem.get());
        }
        Optional<Instant> expiresAt = Optional.empty();
        if (expires != null) {
            try {
                expiresAt = Optional.of(OffsetDateTime.parse(expires).toInstant());
            } catch (DateTimeParseException e) {
                throw usage("create", "--expires must be an ISO-8601 timestamp with an offset, "
                                      + "e.g. 2027-01-01T00:00:00Z");
            }
        }
        ApiKeys.Created created = factory.keys().create(name, tableList, admin, expiresAt);
        ObjectNode json = KeysService.toJson(created.key());
        json.put("key", created.secret());
        out().println(json);
        return 0;
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "Prints every key as a JSON array, oldest first (never the secrets).")
    int list() {
        ArrayNode all = JsonNodeFactory.instance.arrayNode();
        factory.keys().list().forEach(k -> all.add(KeysService.toJson(k)));
        out().println(all);
        return 0;
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "Deletes a key; its open connections are closed within seconds.")
    int revoke(@Parameters(paramLabel = "ID", description = "the key's id (key_...)") String id) {
        if (!factory.keys().delete(id)) {
            spec.commandLine().getErr().println("no such key: " + id);
            return 1;
        }
        out().println("{\"revoked\":\"" + id + "\"}");
        return 0;
    }
}
