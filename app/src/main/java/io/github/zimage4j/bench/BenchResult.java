package io.github.zimage4j.bench;

import io.github.zimage4j.io.Json;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Collected benchmark rows, printed as a table or as one JSON object. */
public final class BenchResult {

    /** One measurement: a component at a size, its median seconds over runs, and the FLOP rate. */
    public record Row(String component, String size, double seconds, double flops, int runs, String note) {
        double tflops() {
            return flops > 0 && seconds > 0 ? flops / seconds / 1e12 : Double.NaN;
        }
    }

    private final String backend;
    private final List<Row> rows = new ArrayList<>();
    private final Map<String, Object> extra = new LinkedHashMap<>();

    public BenchResult(String backend) {
        this.backend = backend;
    }

    public void add(Row row) {
        rows.add(row);
    }

    public void put(String key, Object value) {
        extra.put(key, value);
    }

    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("backend: %s%n", backend));
        sb.append(String.format("%-34s %-10s %12s %10s %5s  %s%n", "component", "size", "seconds", "TFLOP/s", "runs", "note"));
        for (Row r : rows) {
            sb.append(String.format("%-34s %-10s %12.3f %10s %5d  %s%n", r.component(), r.size(), r.seconds(),
                    Double.isNaN(r.tflops()) ? "-" : String.format("%.3f", r.tflops()), r.runs(), r.note()));
        }
        extra.forEach((k, v) -> sb.append(k.endsWith("_bytes") && v instanceof Long b && b >= 0
                ? String.format("%s: %d (%.2f GB)%n", k, b, b / 1e9) : String.format("%s: %s%n", k, v)));
        return sb.toString();
    }

    /** {"backend": …, "<component>": {"<size>": {"seconds", "tflops", "runs", "note"}}, …extra}. */
    public String json() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("backend", backend);
        for (Row r : rows) {
            @SuppressWarnings("unchecked")
            Map<String, Object> comp = (Map<String, Object>) root.computeIfAbsent(r.component(), k -> new LinkedHashMap<String, Object>());
            Map<String, Object> cell = new LinkedHashMap<>();
            cell.put("seconds", r.seconds());
            if (!Double.isNaN(r.tflops())) {
                cell.put("tflops", r.tflops());
            }
            cell.put("runs", (long) r.runs());
            if (!r.note().isEmpty()) {
                cell.put("note", r.note());
            }
            comp.put(r.size(), cell);
        }
        root.putAll(extra);
        return Json.write(root);
    }
}
