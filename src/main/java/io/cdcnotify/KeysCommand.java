package io.cdcnotify;

import java.io.PrintStream;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.cdcnotify.api.KeysService;
import io.cdcnotify.auth.ApiKeys;
import io.cdcnotify.config.AuthConfig;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Database;
import io.cdcnotify.subscription.TableNames;
import io.helidon.config.Config;

/**
 * {@code java -jar cdc-notify.jar keys create|list|revoke}: the first keys, without the REST API, against the
 * configured database. Output is JSON on stdout; problems go to stderr with exit code 2 (usage) or 1 (failure).
 */
final class KeysCommand {

    static final String USAGE = """
            usage:
              keys create --name NAME --tables a,b [--admin] [--expires 2027-01-01T00:00:00Z]
              keys list
              keys revoke ID""";

    private static final ObjectMapper JSON = new ObjectMapper();

    private KeysCommand() {
    }

    /** Runs a keys command; returns the process exit code. */
    static int run(List<String> args, Config config, PrintStream out, PrintStream err) {
        if (args.isEmpty()) {
            err.println(USAGE);
            return 2;
        }
        try (Database database = Database.open(DbConfig.from(config))) {
            ApiKeys keys = new ApiKeys(database.client(), AuthConfig.from(config), Clock.systemUTC());
            return switch (args.getFirst()) {
                case "create" -> create(keys, args.subList(1, args.size()), out, err);
                case "list" -> list(keys, out);
                case "revoke" -> revoke(keys, args.subList(1, args.size()), out, err);
                default -> {
                    err.println(USAGE);
                    yield 2;
                }
            };
        } catch (RuntimeException e) {
            err.println("keys: " + e.getMessage());
            return 1;
        }
    }

    private static int create(ApiKeys keys, List<String> args, PrintStream out, PrintStream err) {
        String name = null;
        List<String> tables = new ArrayList<>();
        boolean admin = false;
        Optional<Instant> expires = Optional.empty();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            boolean hasValue = i + 1 < args.size();
            switch (a) {
                case "--name" -> name = hasValue ? args.get(++i) : null;
                case "--tables" -> tables = hasValue ? Arrays.asList(args.get(++i).split(",", -1)) : List.of();
                case "--admin" -> admin = true;
                case "--expires" -> {
                    if (!hasValue) {
                        err.println("--expires needs an ISO-8601 timestamp");
                        return 2;
                    }
                    try {
                        expires = Optional.of(OffsetDateTime.parse(args.get(++i)).toInstant());
                    } catch (DateTimeParseException e) {
                        err.println("--expires must be an ISO-8601 timestamp with an offset, e.g. 2027-01-01T00:00:00Z");
                        return 2;
                    }
                }
                default -> {
                    err.println("unknown option " + a + "\n" + USAGE);
                    return 2;
                }
            }
        }
        if (name == null || name.isBlank()) {
            err.println("--name is required\n" + USAGE);
            return 2;
        }
        Optional<String> problem = TableNames.problem(tables);
        if (problem.isPresent()) {
            err.println("--tables: " + problem.get());
            return 2;
        }
        ApiKeys.Created created = keys.create(name, tables, admin, expires);
        ObjectNode json = KeysService.toJson(created.key());
        json.put("key", created.secret());
        out.println(json);
        return 0;
    }

    private static int list(ApiKeys keys, PrintStream out) {
        ArrayNode all = JSON.createArrayNode();
        keys.list().forEach(k -> all.add(KeysService.toJson(k)));
        out.println(all);
        return 0;
    }

    private static int revoke(ApiKeys keys, List<String> args, PrintStream out, PrintStream err) {
        if (args.size() != 1) {
            err.println(USAGE);
            return 2;
        }
        if (!keys.delete(args.getFirst())) {
            err.println("no such key: " + args.getFirst());
            return 1;
        }
        out.println("{\"revoked\":\"" + args.getFirst() + "\"}");
        return 0;
    }
}
