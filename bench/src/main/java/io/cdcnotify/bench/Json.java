package io.cdcnotify.bench;

import java.util.Collection;
import java.util.Map;

import org.HdrHistogram.Histogram;

/** Just enough JSON writing for one report line: maps, lists, numbers, strings, booleans, null. */
final class Json {

    private Json() {
    }

    static String write(Object value) {
        StringBuilder s = new StringBuilder();
        write(s, value);
        return s.toString();
    }

    private static void write(StringBuilder s, Object v) {
        switch (v) {
            case null -> s.append("null");
            case Map<?, ?> m -> {
                s.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    s.append(first ? "" : ",");
                    first = false;
                    string(s, String.valueOf(e.getKey()));
                    s.append(':');
                    write(s, e.getValue());
                }
                s.append('}');
            }
            case Collection<?> c -> {
                s.append('[');
                boolean first = true;
                for (Object o : c) {
                    s.append(first ? "" : ",");
                    first = false;
                    write(s, o);
                }
                s.append(']');
            }
            case Double d -> s.append(d.isNaN() || d.isInfinite() ? "null" : String.valueOf(Math.round(d * 1000) / 1000.0));
            case Float f -> write(s, f.doubleValue());
            case Number n -> s.append(n);
            case Boolean b -> s.append(b);
            default -> string(s, v.toString());
        }
    }

    private static void string(StringBuilder s, String text) {
        s.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> s.append("\\\"");
                case '\\' -> s.append("\\\\");
                case '\n' -> s.append("\\n");
                case '\r' -> s.append("\\r");
                case '\t' -> s.append("\\t");
                default -> {
                    if (c < 0x20) {
                        s.append(String.format("\\u%04x", (int) c));
                    } else {
                        s.append(c);
                    }
                }
            }
        }
        s.append('"');
    }

    /** A latency histogram in microseconds, summarised in milliseconds. */
    static Map<String, Object> latency(Histogram h) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("count", h.getTotalCount());
        if (h.getTotalCount() == 0) {
            return m;
        }
        m.put("p50_ms", h.getValueAtPercentile(50) / 1000.0);
        m.put("p90_ms", h.getValueAtPercentile(90) / 1000.0);
        m.put("p99_ms", h.getValueAtPercentile(99) / 1000.0);
        m.put("p999_ms", h.getValueAtPercentile(99.9) / 1000.0);
        m.put("max_ms", h.getMaxValue() / 1000.0);
        m.put("mean_ms", h.getMean() / 1000.0);
        return m;
    }
}
