package io.cdcnotify.bench;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A client's subscription filter in a filtered run ({@code --filter-fraction F --filter-share S}), and the
 * driver's own evaluation of it, so loss accounting knows which events each client should get.
 *
 * <p>With filtering on, the writer gives event {@code seq} the payload field {@code "cust": seq mod 100} and the
 * operation by {@code (seq div 100) mod 10}: 0–4 INSERT, 5–8 UPDATE, 9 DELETE (so customer and operation are
 * independent: every block of 1,000 sequence numbers holds each pair in proportion). Filtered client number
 * {@code j} (counted over both transports) subscribes with {@code {"cust": {"in": [k values]}}}, the
 * {@code k = round(100·S)} values from {@code 37·j mod 100} on (so neighbouring clients have different sets),
 * and odd {@code j} add {@code "operations": ["INSERT", "UPDATE"]}: an even client wants exactly the share S of
 * the events on its table, an odd one 0.9·S.
 */
record ClientFilter(int index, boolean[] customers, boolean withOperations) {

    static final int CUSTOMERS = 100;

    /** The operation the writer gives sequence number {@code seq}: 0 INSERT, 1 UPDATE, 2 DELETE. */
    static int operation(long seq) {
        long block = (seq / CUSTOMERS) % 10;
        return block < 5 ? 0 : block < 9 ? 1 : 2;
    }

    static String operationName(int op) {
        return switch (op) {
            case 0 -> "INSERT";
            case 1 -> "UPDATE";
            default -> "DELETE";
        };
    }

    static int operationCode(String name) {
        return switch (name) {
            case "INSERT" -> 0;
            case "UPDATE" -> 1;
            default -> 2;
        };
    }

    static ClientFilter of(int j, double share) {
        int k = Math.max(1, Math.min(CUSTOMERS, (int) Math.round(share * CUSTOMERS)));
        boolean[] c = new boolean[CUSTOMERS];
        int start = (37 * j) % CUSTOMERS;
        for (int i = 0; i < k; i++) {
            c[(start + i) % CUSTOMERS] = true;
        }
        return new ClientFilter(j, c, j % 2 == 1);
    }

    /** Whether client {@code i} of a transport is one of the filtered ones: a fraction F, spread evenly. */
    static boolean filtered(int i, double fraction) {
        return Math.floor((i + 1) * fraction) - Math.floor(i * fraction) >= 1;
    }

    boolean wants(int customer, int operation) {
        if (withOperations && operation == 2) {
            return false;
        }
        return customer >= 0 && customer < CUSTOMERS && customers[customer];
    }

    private List<Integer> values() {
        List<Integer> v = new ArrayList<>();
        for (int i = 0; i < CUSTOMERS; i++) {
            if (customers[i]) {
                v.add(i);
            }
        }
        return v;
    }

    String filterJson() {
        StringBuilder s = new StringBuilder("{\"cust\":{\"in\":[");
        List<Integer> v = values();
        for (int i = 0; i < v.size(); i++) {
            s.append(i == 0 ? "" : ",").append(v.get(i));
        }
        return s.append("]}}").toString();
    }

    /** The extra members of a WebSocket {@code subscribe}. */
    String wsMembers() {
        return (withOperations ? ",\"operations\":[\"INSERT\",\"UPDATE\"]" : "") + ",\"filter\":" + filterJson();
    }

    /** The extra query parameters of {@code GET /v1/events}. */
    String sseQuery() {
        return (withOperations ? "&operations=INSERT,UPDATE" : "") + "&filter="
               + URLEncoder.encode(filterJson(), StandardCharsets.UTF_8);
    }
}
