package io.github.zimage4j.lora;

import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.AdapterMerge;
import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * A transformer checkpoint with LoRAs on top: the decorator a model is bound through. Each LoRA module is
 * placed on the checkpoint's diffusers weight names (whatever the file layout behind them: separate
 * tensors, or row views of a fused qkv); an update on a fused {@code attention.qkv} (or
 * {@code feed_forward.w13}) target is split by output rows onto {@code to_q/to_k/to_v} ({@code w1/w3}),
 * sharing its down factor.
 *
 * <p>In {@link LoraMode#RUNTIME} the updates are handed to the linear layers ({@link #adapters}); in
 * {@link LoraMode#MERGED} each touched weight is replaced by a copy with the updates added in its stored
 * dtype. The base source is not owned: closing this decorator leaves it open.
 */
public final class LoraTensorSource implements TensorSource {

    /** A read LoRA file and its strength. */
    public record Applied(LoraFile file, double strength) {
    }

    /** What a binding did, per file: the lines to print and the totals. */
    public record Report(List<String> lines, int appliedTensors, int skippedDuplicates, List<String> unplacedKeys) {
    }

    private final TensorSource base;
    private final Map<String, List<Adapter>> adapters;
    private final Map<String, StoredTensor> merged;
    private final Report report;
    private final String description;

    private LoraTensorSource(TensorSource base, Map<String, List<Adapter>> adapters, Map<String, StoredTensor> merged,
                             Report report, int files) {
        this.base = base;
        this.adapters = adapters;
        this.merged = merged;
        this.report = report;
        this.description = base.description() + " + " + files + " LoRA" + (files == 1 ? "" : "s");
    }

    /**
     * Places every module of every file on {@code base}. Keys that fit no weight are an error listing them
     * unless {@code ignoreUnplaced}; a module whose shape does not fit its weight always is. In merged mode
     * every touched weight must be F32, BF16 or F16; this is checked before any merge starts.
     */
    public static LoraTensorSource bind(TensorSource base, List<Applied> loras, LoraMode mode, boolean ignoreUnplaced)
            throws LoraException {
        Map<String, List<Adapter>> byWeight = new LinkedHashMap<>();
        List<String> lines = new ArrayList<>();
        List<String> unplaced = new ArrayList<>();
        int appliedTotal = 0;
        int skippedTotal = 0;
        for (Applied a : loras) {
            LoraFile f = a.file();
            List<String> fileUnplaced = new ArrayList<>(f.unknownKeys());
            int applied = 0;
            Set<String> weights = new TreeSet<>();
            for (LoraFile.Module m : f.modules()) {
                List<Part> parts = resolve(shapeOf(base), m.target());
                if (parts == null || parts.size() > 1 && !(m.adapter() instanceof Adapter.LowRank)) {
                    fileUnplaced.addAll(m.keys());
                    continue;
                }
                checkShape(f, m, base, parts);
                Adapter scaled = m.adapter().scaled((float) a.strength());
                for (Part p : parts) {
                    Adapter on = parts.size() == 1 ? scaled : ((Adapter.LowRank) scaled).outputRows(p.start(), p.rows());
                    if (a.strength() != 0) {
                        byWeight.computeIfAbsent(p.weight(), k -> new ArrayList<>()).add(on);
                    }
                    weights.add(p.weight());
                }
                applied += m.keys().size();
            }
            lines.add(String.format("LoRA %s (strength %s): %s, %s; applied %d tensors to %d weights, skipped %d duplicate"
                            + " tensors, %d unplaced", f.path().getFileName(), a.strength(), f.format(), f.dtype(), applied,
                    weights.size(), f.skippedDuplicates().size(), fileUnplaced.size()));
            for (String k : fileUnplaced) {
                unplaced.add(f.path().getFileName() + ": " + k);
            }
            appliedTotal += applied;
            skippedTotal += f.skippedDuplicates().size();
        }
        if (!unplaced.isEmpty() && !ignoreUnplaced) {
            throw new LoraException(unplaced.size() + " LoRA keys fit no weight of " + base.description()
                    + " (pass --lora-ignore-unmatched to apply the rest anyway):\n  " + String.join("\n  ", unplaced));
        }
        Map<String, StoredTensor> mergedWeights = new LinkedHashMap<>();
        if (mode == LoraMode.MERGED) {
            for (String w : byWeight.keySet()) {
                StoredTensor t = base.find(w);
                if (!AdapterMerge.MERGEABLE.contains(t.dtype())) {
                    throw new LoraException(t.where() + " is " + t.dtype() + ": merged LoRA mode writes only F32, BF16 or"
                            + " F16 weights; use --lora-mode runtime (the default) for quantized weights");
                }
            }
            for (Map.Entry<String, List<Adapter>> e : byWeight.entrySet()) {
                mergedWeights.put(e.getKey(), AdapterMerge.merged(base.find(e.getKey()), e.getValue()));
            }
            byWeight = Map.of();
        }
        Report report = new Report(List.copyOf(lines), appliedTotal, skippedTotal, List.copyOf(unplaced));
        return new LoraTensorSource(base, byWeight, mergedWeights, report, loras.size());
    }

    /** Rows {@code [start, start+rows)} of the update go to {@code weight}. */
    private record Part(String weight, long start, long rows) {
    }

    private static Function<String, long[]> shapeOf(TensorSource base) {
        return name -> {
            StoredTensor t = base.find(name);
            return t == null ? null : t.shape();
        };
    }

    /**
     * The keys of {@code file} that fit no weight of a checkpoint with these tensor shapes (e.g. a config's
     * {@code expectedTensors()}), unknown keys included: what {@link #bind} would refuse.
     */
    public static List<String> unplacedKeys(LoraFile file, Map<String, long[]> shapes) {
        List<String> out = new ArrayList<>(file.unknownKeys());
        for (LoraFile.Module m : file.modules()) {
            List<Part> parts = resolve(shapes::get, m.target());
            if (parts == null || parts.size() > 1 && !(m.adapter() instanceof Adapter.LowRank)) {
                out.addAll(m.keys());
            }
        }
        return out;
    }

    /** The weights a module's update lands on; null when it fits none. */
    private static List<Part> resolve(Function<String, long[]> shapes, String target) {
        long[] direct = shapes.apply(target + ".weight");
        if (direct != null && direct.length == 2) {
            return List.of(new Part(target + ".weight", 0, direct[0]));
        }
        int dot = target.lastIndexOf('.');
        if (dot < 0) {
            return null;
        }
        String parent = target.substring(0, dot);
        String leaf = target.substring(dot + 1);
        List<String> split = switch (leaf) {
            case "qkv", "to_qkv" -> parent.endsWith(".attention") ? List.of("to_q", "to_k", "to_v") : null;
            case "w13" -> parent.endsWith(".feed_forward") ? List.of("w1", "w3") : null;
            default -> null;
        };
        if (split == null) {
            return null;
        }
        List<Part> parts = new ArrayList<>();
        long start = 0;
        for (String s : split) {
            long[] t = shapes.apply(parent + "." + s + ".weight");
            if (t == null || t.length != 2) {
                return null;
            }
            parts.add(new Part(parent + "." + s + ".weight", start, t[0]));
            start += t[0];
        }
        return parts;
    }

    private static void checkShape(LoraFile f, LoraFile.Module m, TensorSource base, List<Part> parts) throws LoraException {
        StoredTensor first = base.find(parts.get(0).weight());
        long out = parts.stream().mapToLong(Part::rows).sum();
        if (m.adapter().in() != first.dim(1) || m.adapter().out() != out) {
            throw new LoraException(f.path() + ": module " + m.target() + " (" + m.keys().get(0) + ") updates a ["
                    + m.adapter().out() + ", " + m.adapter().in() + "] weight, but " + base.description() + " has ["
                    + out + ", " + first.dim(1) + "]" + (parts.size() > 1 ? " (fused)" : "")
                    + ": a LoRA for another model?");
        }
    }

    public Report report() {
        return report;
    }

    /** The weights that carry updates (runtime) or were replaced by merged copies (merged). */
    public Set<String> touchedWeights() {
        return merged.isEmpty() ? adapters.keySet() : merged.keySet();
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public Set<String> names() {
        return base.names();
    }

    @Override
    public StoredTensor find(String name) {
        StoredTensor m = merged.get(name);
        return m != null ? m : base.find(name);
    }

    @Override
    public List<Adapter> adapters(String weightName) {
        List<Adapter> own = adapters.get(weightName);
        if (own == null) {
            return base.adapters(weightName);
        }
        List<Adapter> all = new ArrayList<>(base.adapters(weightName));
        all.addAll(own);
        return all;
    }

    @Override
    public void releaseResidentPages() {
        base.releaseResidentPages();
    }

    /** Leaves the base source open: its owner closes it. */
    @Override
    public void close() {
    }
}
