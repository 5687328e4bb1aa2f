package io.cdcnotify;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.cdcnotify.api.CapturesService;
import io.cdcnotify.config.DbConfig;
import io.cdcnotify.db.Captures;
import io.cdcnotify.db.Database;
import io.helidon.config.Config;

/**
 * {@code java -jar cdc-notify.jar captures add|list|remove}: capture tables without the REST API. JSON on
 * stdout; exit code 2 for usage and invalid input (a malformed name, unknown or key columns to exclude), 1 for a
 * refusal (no such table, not capturable).
 */
final class CapturesCommand {

    static final String USAGE = """
            usage:
              captures add TABLE [--exclude col1,col2]
              captures list
              captures remove TABLE""";

    private static final ObjectMapper JSON = new ObjectMapper();

    private CapturesCommand() {
    }

    static int run(List<String> args, Config config, PrintStream out, PrintStream err) {
        if (args.isEmpty()) {
            err.println(USAGE);
            return 2;
        }
        try (Database database = Database.open(DbConfig.from(config))) {
            Captures captures = new Captures(database.client());
            switch (args.getFirst()) {
                case "add" -> {
                    List<String> exclude = List.of();
                    if (args.size() == 4 && "--exclude".equals(args.get(2))) {
                        exclude = Arrays.asList(args.get(3).split(","));
                    } else if (args.size() != 2) {
                        err.println(USAGE);
                        return 2;
                    }
                    out.println(CapturesService.toJson(captures.add(args.get(1), exclude)));
                }
                case "list" -> {
                    ArrayNode all = JSON.createArrayNode();
                    captures.list().forEach(c -> all.add(CapturesService.toJson(c)));
                    out.println(all);
                }
                case "remove" -> {
                    if (args.size() != 2) {
                        err.println(USAGE);
                        return 2;
                    }
                    if (!captures.remove(args.get(1))) {
                        err.println("not captured: " + args.get(1));
                        return 1;
                    }
                    out.println("{\"released\":\"" + args.get(1) + "\"}");
                }
                default -> {
                    err.println(USAGE);
                    return 2;
                }
            }
            return 0;
        } catch (Captures.Refused e) {
            err.println("captures: " + e.getMessage());
            return e.invalid() ? 2 : 1;
        } catch (RuntimeException e) {
            err.println("captures: " + e.getMessage());
            return 1;
        }
    }
}
