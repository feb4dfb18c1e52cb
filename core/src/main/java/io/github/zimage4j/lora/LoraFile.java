package io.github.zimage4j.lora;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.Adapter;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * One LoRA file, read into updates per diffusers module (the file is closed afterwards; the factors are
 * small and kept on the heap in the file's dtype).
 *
 * <p>Semantics follow the reference loader (diffusers + PEFT): {@code ΔW = strength · (alpha/r) · B·A}, A the
 * down factor {@code [r, in]}, B the up factor {@code [out, r]}, r the rows of A. alpha comes from an
 * {@code .alpha} tensor, else from PEFT's {@code lora_adapter_metadata} ({@code lora_alpha},
 * {@code alpha_pattern}), else alpha = r. An {@code .alpha} tensor is folded into the factors as diffusers
 * does, <em>in the file's dtype</em> (alpha/r split between A and B by powers of two), so BF16/F16 files
 * round exactly as they do there. The redundant fused entries some trainers add beside the separate ones
 * ({@code …attention_qkv} next to {@code to_q/k/v}, a bare {@code …attention_out} next to {@code to_out_0})
 * are skipped as duplicates, as the reference skips them; alone they are used. LoKr (LyCORIS) follows
 * ComfyUI: {@code ΔW = strength · alpha/dim · kron(w1, w2)}, scale 1 without a decomposed factor. DoRA
 * and LoHa are refused with a message: applying them as plain LoRA would silently change the result.
 */
public final class LoraFile {

    /** An update on one module (a diffusers path; {@code attention.qkv} / {@code feed_forward.w13} for fused targets). */
    public record Module(String target, Adapter adapter, int rank, double alpha, String alphaSource, List<String> keys) {
    }

    private final Path path;
    private final String format;
    private final DType dtype;
    private final Map<String, String> metadata;
    private final List<Module> modules;
    private final List<String> unknownKeys;
    private final List<String> skippedDuplicates;
    private final int tensorCount;

    private LoraFile(Path path, String format, DType dtype, Map<String, String> metadata, List<Module> modules,
                     List<String> unknownKeys, List<String> skippedDuplicates, int tensorCount) {
        this.path = path;
        this.format = format;
        this.dtype = dtype;
        this.metadata = metadata;
        this.modules = List.copyOf(modules);
        this.unknownKeys = List.copyOf(unknownKeys);
        this.skippedDuplicates = List.copyOf(skippedDuplicates);
        this.tensorCount = tensorCount;
    }

    public Path path() {
        return path;
    }

    /** The key format most keys use, e.g. "kohya/musubi (lora_unet_), lora_down/lora_up". */
    public String format() {
        return format;
    }

    /** The dtype of the factors (the most common one when mixed). */
    public DType dtype() {
        return dtype;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public List<Module> modules() {
        return modules;
    }

    /** Keys that are not part of any LoRA update this reader knows. */
    public List<String> unknownKeys() {
        return unknownKeys;
    }

    /** Keys of redundant fused entries skipped because the separate ones are present. */
    public List<String> skippedDuplicates() {
        return skippedDuplicates;
    }

    public int tensorCount() {
        return tensorCount;
    }

    public static LoraFile read(Path file) throws IOException {
        try (SafeTensors st = SafeTensors.open(file)) {
            return read(st, file);
        }
    }

    private static LoraFile read(SafeTensors st, Path file) throws LoraException {
        Map<String, Map<LoraKeys.Part, String>> groups = new TreeMap<>();
        List<String> unknown = new ArrayList<>();
        Map<String, Integer> formats = new TreeMap<>();
        for (String key : st.names().stream().sorted().toList()) {
            LoraKeys.Parsed p = LoraKeys.parse(key);
            if (p == null) {
                unknown.add(key);
                continue;
            }
            if (p.part() != LoraKeys.Part.ALPHA) {
                formats.merge(LoraKeys.format(p), 1, Integer::sum);
            }
            String previous = groups.computeIfAbsent(p.module(), m -> new EnumMap<>(LoraKeys.Part.class)).put(p.part(), key);
            if (previous != null) {
                throw new LoraException(file + ": keys '" + previous + "' and '" + key + "' are the same part of module "
                        + p.module());
            }
        }
        List<String> skipped = new ArrayList<>();
        dropDuplicates(groups, skipped);
        Metadata meta = Metadata.of(st.metadata(), file);
        List<Module> modules = new ArrayList<>();
        Map<DType, Integer> dtypes = new EnumMap<>(DType.class);
        for (Map.Entry<String, Map<LoraKeys.Part, String>> g : groups.entrySet()) {
            Map<LoraKeys.Part, String> parts = g.getValue();
            String module = g.getKey();
            refuseUnsupported(file, module, parts);
            boolean lokr = parts.keySet().stream().anyMatch(p -> p.name().startsWith("LOKR"));
            Module m = lokr ? lokr(st, module, parts) : lowRank(st, file, module, parts, meta);
            if (m == null) {
                unknown.addAll(parts.values());
                continue;
            }
            for (String k : m.keys()) {
                StoredTensor t = st.find(k);
                if (t.rank() > 0) {
                    dtypes.merge(t.dtype(), 1, Integer::sum);
                }
            }
            modules.add(m);
        }
        DType dtype = dtypes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(DType.F32);
        // The format most keys are written in (a stray text-encoder key must not decide it).
        String format = formats.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse("no LoRA keys");
        return new LoraFile(file, format, dtype, st.metadata(), modules, unknown, skipped, st.names().size());
    }

    /**
     * The fused {@code attention.qkv} entry of a block that also has its separate {@code to_q/k/v} entries, and
     * a bare {@code attention.out} beside {@code to_out.0}, are the same update written twice: applying both
     * would add it twice. A bare {@code attention.out} alone is {@code to_out.0}.
     */
    private static void dropDuplicates(Map<String, Map<LoraKeys.Part, String>> groups, List<String> skipped) {
        for (String module : List.copyOf(groups.keySet())) {
            if (module.endsWith(".attention.qkv") || module.endsWith(".attention.to_qkv")) {
                String block = module.substring(0, module.lastIndexOf('.'));
                if (groups.containsKey(block + ".to_q") || groups.containsKey(block + ".to_k") || groups.containsKey(block + ".to_v")) {
                    skipped.addAll(groups.remove(module).values());
                }
            } else if (module.endsWith(".attention.out")) {
                String toOut = module.substring(0, module.length() - ".out".length()) + ".to_out.0";
                Map<LoraKeys.Part, String> parts = groups.remove(module);
                if (groups.containsKey(toOut)) {
                    skipped.addAll(parts.values());
                } else {
                    groups.put(toOut, parts);
                }
            }
        }
        skipped.sort(null);
    }

    private static void refuseUnsupported(Path file, String module, Map<LoraKeys.Part, String> parts) throws LoraException {
        if (parts.containsKey(LoraKeys.Part.DORA_SCALE)) {
            throw new LoraException(file + ": module " + module + " is DoRA ('" + parts.get(LoraKeys.Part.DORA_SCALE)
                    + "'); DoRA rescales each output row by a learned magnitude, which zimage4j does not apply, and"
                    + " loading it as a plain LoRA would give a different result. Convert it to a plain LoRA first.");
        }
        if (parts.containsKey(LoraKeys.Part.LOHA)) {
            throw new LoraException(file + ": module " + module + " is LoHa ('" + parts.get(LoraKeys.Part.LOHA)
                    + "'), which is not supported (LoRA and LoKr are)");
        }
        if (parts.containsKey(LoraKeys.Part.LOKR_T2)) {
            throw new LoraException(file + ": module " + module + " is a LoKr with a Tucker core ('"
                    + parts.get(LoraKeys.Part.LOKR_T2) + "'), used for convolutions; Z-Image has none");
        }
    }

    /** A down/up pair; null when the pair is incomplete (its keys are then reported as unplaced). */
    private static Module lowRank(SafeTensors st, Path file, String module, Map<LoraKeys.Part, String> parts,
                                  Metadata meta) throws LoraException {
        String downKey = parts.get(LoraKeys.Part.DOWN);
        String upKey = parts.get(LoraKeys.Part.UP);
        if (downKey == null || upKey == null) {
            return null;
        }
        StoredTensor down = st.find(downKey);
        StoredTensor up = st.find(upKey);
        if (down.rank() != 2 || up.rank() != 2 || up.dim(1) != down.dim(0)) {
            throw new LoraException(file + ": '" + downKey + "' " + Arrays.toString(down.shape()) + " and '" + upKey + "' "
                    + Arrays.toString(up.shape()) + " are not a [r, in] / [out, r] pair");
        }
        int rank = (int) down.dim(0);
        List<String> keys = new ArrayList<>(List.of(downKey, upKey));
        String alphaKey = parts.get(LoraKeys.Part.ALPHA);
        if (alphaKey != null) {
            StoredTensor a = st.find(alphaKey);
            if (a.numel() != 1) {
                throw new LoraException(file + ": '" + alphaKey + "' has shape " + Arrays.toString(a.shape()) + ", expected one value");
            }
            keys.add(alphaKey);
            double alpha = a.getFloat(0);
            // diffusers folds alpha/r into the factors (scale_down·scale_up = alpha/r, balanced by powers of two),
            // rounding in the file's dtype.
            double scaleDown = alpha / rank;
            double scaleUp = 1.0;
            while (scaleDown * 2 < scaleUp) {
                scaleDown *= 2;
                scaleUp /= 2;
            }
            Adapter.LowRank adapter = new Adapter.LowRank(copy(down, scaleDown), copy(up, scaleUp), 1f);
            return new Module(module, adapter, rank, alpha, "tensor", keys);
        }
        Double alpha = meta.alpha(module);
        if (alpha != null) {
            return new Module(module, new Adapter.LowRank(copy(down, 1), copy(up, 1), (float) (alpha / rank)), rank, alpha,
                    "metadata", keys);
        }
        return new Module(module, new Adapter.LowRank(copy(down, 1), copy(up, 1), 1f), rank, rank, "none (alpha = rank)", keys);
    }

    private static Module lokr(SafeTensors st, String module, Map<LoraKeys.Part, String> parts) throws LoraException {
        List<String> keys = new ArrayList<>(parts.values());
        Factor w1 = factor(st, module, parts, LoraKeys.Part.LOKR_W1, LoraKeys.Part.LOKR_W1_A, LoraKeys.Part.LOKR_W1_B);
        Factor w2 = factor(st, module, parts, LoraKeys.Part.LOKR_W2, LoraKeys.Part.LOKR_W2_A, LoraKeys.Part.LOKR_W2_B);
        // ComfyUI / LyCORIS: alpha is divided by the rank of the decomposed factor (w2's when both are).
        Integer dim = w2.rank != null ? w2.rank : w1.rank;
        String alphaKey = parts.get(LoraKeys.Part.ALPHA);
        double alpha = alphaKey != null ? st.find(alphaKey).getFloat(0) : Double.NaN;
        double scale = alphaKey != null && dim != null ? alpha / dim : 1.0;
        Adapter.Kronecker k = new Adapter.Kronecker(w1.values, w1.rows, w1.cols, w2.values, w2.rows, w2.cols, (float) scale);
        return new Module(module, k, dim == null ? 0 : dim, alpha, alphaKey != null ? "tensor" : "none (scale 1)", keys);
    }

    private record Factor(float[] values, int rows, int cols, Integer rank) {
    }

    /** A LoKr factor, whole or as the product of its two decomposed halves. */
    private static Factor factor(SafeTensors st, String module, Map<LoraKeys.Part, String> parts, LoraKeys.Part whole,
                                 LoraKeys.Part a, LoraKeys.Part b) throws LoraException {
        if (parts.containsKey(whole)) {
            StoredTensor t = st.find(parts.get(whole));
            if (t.rank() != 2) {
                throw new LoraException(t.where() + ": a LoKr factor must be 2-D, found " + Arrays.toString(t.shape()));
            }
            return new Factor(t.toFloats(), (int) t.dim(0), (int) t.dim(1), null);
        }
        if (!parts.containsKey(a) || !parts.containsKey(b)) {
            throw new LoraException(st.description() + ": LoKr module " + module + " has neither " + whole.name().toLowerCase()
                    + " nor both halves " + a.name().toLowerCase() + " / " + b.name().toLowerCase());
        }
        StoredTensor ta = st.find(parts.get(a));
        StoredTensor tb = st.find(parts.get(b));
        if (ta.rank() != 2 || tb.rank() != 2 || ta.dim(1) != tb.dim(0)) {
            throw new LoraException(st.description() + ": LoKr halves '" + parts.get(a) + "' " + Arrays.toString(ta.shape())
                    + " and '" + parts.get(b) + "' " + Arrays.toString(tb.shape()) + " do not multiply");
        }
        int rows = (int) ta.dim(0), r = (int) ta.dim(1), cols = (int) tb.dim(1);
        float[] fa = ta.toFloats(), fb = tb.toFloats();
        float[] w = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < r; j++) {
                float x = fa[i * r + j];
                for (int c = 0; c < cols; c++) {
                    w[i * cols + c] += x * fb[j * cols + c];
                }
            }
        }
        return new Factor(w, rows, cols, r);
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * A heap copy of a factor times {@code factor}, rounded to the factor's own dtype (F32, BF16, F16; other
     * dtypes become F32), as {@code tensor * scalar} does in torch.
     */
    private static StoredTensor copy(StoredTensor t, double factor) {
        DType d = t.dtype() == DType.BF16 || t.dtype() == DType.F16 ? t.dtype() : DType.F32;
        float f = (float) factor;
        float[] v = t.toFloats();
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.toIntExact(v.length * (long) d.bytes())]);
        for (int i = 0; i < v.length; i++) {
            float x = factor == 1 ? v[i] : v[i] * f;
            switch (d) {
                case BF16 -> seg.setAtIndex(I16, i, FloatFormats.floatToBf16(x));
                case F16 -> seg.setAtIndex(I16, i, Float.floatToFloat16(x));
                default -> seg.setAtIndex(F32, i, x);
            }
        }
        return new StoredTensor(t.name(), t.file(), d, t.shape(), seg);
    }

    /** PEFT's {@code lora_adapter_metadata}: the adapter's lora_alpha and per-module alpha_pattern. */
    private record Metadata(Double alpha, Map<String, Object> alphaPattern) {

        static Metadata of(Map<String, String> raw, Path file) throws LoraException {
            String json = raw.get("lora_adapter_metadata");
            if (json == null) {
                return new Metadata(null, Map.of());
            }
            Map<String, Object> config;
            try {
                config = Json.parse(json) instanceof Map<?, ?> m ? castMap(m) : Map.of();
            } catch (Json.JsonException e) {
                throw new LoraException(file + ": lora_adapter_metadata is not valid JSON: " + e.getMessage());
            }
            Object alpha = config.getOrDefault("transformer.lora_alpha", config.get("lora_alpha"));
            Object pattern = config.getOrDefault("transformer.alpha_pattern", config.get("alpha_pattern"));
            return new Metadata(alpha instanceof Number n ? n.doubleValue() : null,
                    pattern instanceof Map<?, ?> m ? castMap(m) : Map.of());
        }

        @SuppressWarnings("unchecked")
        private static Map<String, Object> castMap(Map<?, ?> m) {
            return (Map<String, Object>) m;
        }

        /** alpha for a module: PEFT matches a pattern key against the end of the module path. */
        Double alpha(String module) {
            for (Map.Entry<String, Object> e : alphaPattern.entrySet()) {
                try {
                    if (e.getValue() instanceof Number n && Pattern.compile("(.*\\.)?(" + e.getKey() + ")").matcher(module).matches()) {
                        return n.doubleValue();
                    }
                } catch (PatternSyntaxException ignored) {
                    if (module.equals(e.getKey()) || module.endsWith("." + e.getKey())) {
                        return ((Number) e.getValue()).doubleValue();
                    }
                }
            }
            return alpha;
        }
    }
}
