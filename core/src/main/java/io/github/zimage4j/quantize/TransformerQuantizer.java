package io.github.zimage4j.quantize;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.Parallel;
import io.github.zimage4j.tensor.StoredTensor;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Quantizes a Z-Image transformer into a GGUF file that stable-diffusion.cpp and ComfyUI-GGUF load.
 *
 * <p>Names: the original (ComfyUI / stable-diffusion.cpp) layout without prefix, as the community Z-Image
 * GGUF files have it: diffusers' {@code to_q/to_k/to_v} are fused into {@code attention.qkv} (rows q, k, v),
 * {@code to_out.0} becomes {@code out}, {@code norm_q/norm_k} become {@code q_norm/k_norm},
 * {@code all_x_embedder.2-1} and {@code all_final_layer.2-1} become {@code x_embedder} and {@code final_layer}.
 * A ComfyUI single file keeps its names (prefix {@code model.diffusion_model.} removed, the unused
 * {@code norm_final.weight} dropped). Metadata: {@code general.architecture = lumina2} (ComfyUI-GGUF's name for
 * the Lumina-2 / Z-Image family), {@code general.quantization_version = 2}, {@code general.file_type}.
 *
 * <p>Types: kept in F32, as the community files keep them, are 1-D tensors (norm scales, biases), tensors of
 * at most 1024 values (ComfyUI-GGUF's convert.py), the pad tokens, and the input and output layers
 * stable-diffusion.cpp never converts ({@code x_embedder}, {@code t_embedder}, {@code final_layer}). Every other
 * tensor gets the target type, or stays in its stored precision when its rows are not whole blocks.
 *
 * <p>Streaming: tensors are read row block by row block from the memory-mapped input and quantized in
 * parallel; the model is never held in memory.
 */
public final class TransformerQuantizer {

    /** One output tensor: its GGUF name, type, PyTorch shape, and the input tensors whose rows it concatenates. */
    public record Planned(String name, DType type, long[] shape, List<StoredTensor> parts, List<Float> scales) {
        public long bytes() {
            return type.byteSize(StoredTensor.numel(shape));
        }
    }

    private static final String COMFY_PREFIX = "model.diffusion_model.";
    private static final Pattern QKV = Pattern.compile("(.*\\.attention)\\.to_([qkv])\\.(weight|bias)");
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TransformerQuantizer() {
    }

    /**
     * The output tensors, in name order, with their types.
     *
     * @throws ModelFileException if the input is not a Z-Image transformer (naming the tensors it cannot place)
     */
    public static List<Planned> plan(TensorSource src, DType target) throws ModelFileException {
        if (!target.isQuantized() && target != DType.BF16 && target != DType.F16) {
            throw new IllegalArgumentException("target type " + target + " is not a quantized type, bf16 or f16");
        }
        boolean prefixed = src.names().stream().anyMatch(n -> n.startsWith(COMFY_PREFIX));
        Map<String, List<String>> outputs = new TreeMap<>();
        List<String> unplaced = new ArrayList<>();
        for (String name : new TreeSet<>(src.names())) {
            if (prefixed && !name.startsWith(COMFY_PREFIX)) {
                unplaced.add(name);
                continue;
            }
            String n = prefixed ? name.substring(COMFY_PREFIX.length()) : name;
            if (n.equals("norm_final.weight") || n.endsWith(".scale_weight") || n.endsWith(".scale_input")) {
                continue; // unused by the model, or an fp8 scale applied below
            }
            String out = originalName(n);
            if (out == null) {
                unplaced.add(name);
                continue;
            }
            outputs.computeIfAbsent(out, k -> new ArrayList<>()).add(name);
        }
        if (!outputs.containsKey("x_embedder.weight") || !outputs.containsKey("cap_embedder.1.weight")) {
            throw new ModelFileException(src.description() + " is not a Z-Image transformer (no x_embedder / all_x_embedder.2-1"
                    + " and cap_embedder tensors)");
        }
        if (!unplaced.isEmpty()) {
            throw new ModelFileException(src.description() + ": cannot place " + unplaced.size() + " tensors in the Z-Image"
                    + " transformer layout: " + String.join(", ", unplaced.subList(0, Math.min(20, unplaced.size())))
                    + (unplaced.size() > 20 ? ", …" : ""));
        }
        List<Planned> plan = new ArrayList<>();
        for (Map.Entry<String, List<String>> e : outputs.entrySet()) {
            List<StoredTensor> parts = new ArrayList<>();
            List<Float> scales = new ArrayList<>();
            for (String name : qkvOrder(e.getValue())) {
                StoredTensor t = src.get(name);
                if (!t.dtype().isFloatingPoint() || t.dtype().isQuantized()) {
                    throw new ModelFileException(t.where() + " is " + t.dtype() + "; quantize from the floating-point"
                            + " (bf16/f16/f32/fp8) checkpoint");
                }
                parts.add(t.withScale(1f));
                scales.add(t.scale() != 1f ? t.scale() : scale(src, name));
            }
            long[] shape = fusedShape(e.getKey(), parts);
            plan.add(new Planned(e.getKey(), typeFor(e.getKey(), shape, target, parts.get(0).dtype()), shape, parts, scales));
        }
        return plan;
    }

    /** The original-layout name of a diffusers or original name, or null when it is no Z-Image tensor. */
    static String originalName(String n) {
        Matcher m = QKV.matcher(n);
        if (m.matches()) {
            return m.group(1) + ".qkv." + m.group(3);
        }
        String o = n.replace("all_x_embedder.2-1.", "x_embedder.")
                .replace("all_final_layer.2-1.", "final_layer.")
                .replace(".attention.to_out.0.", ".attention.out.")
                .replace(".attention.norm_q.", ".attention.q_norm.")
                .replace(".attention.norm_k.", ".attention.k_norm.");
        boolean known = o.matches("(x_embedder|final_layer\\.(linear|adaLN_modulation\\.1))\\.(weight|bias)")
                || o.matches("t_embedder\\.mlp\\.[02]\\.(weight|bias)")
                || o.matches("cap_embedder\\.(0\\.weight|1\\.(weight|bias))")
                || o.matches("(x|cap)_pad_token")
                || o.matches("(layers|noise_refiner|context_refiner)\\.\\d+\\.(attention\\.(qkv|out)\\.(weight|bias)"
                + "|attention\\.[qk]_norm\\.weight|(attention|ffn)_norm[12]\\.weight|feed_forward\\.w[123]\\.weight"
                + "|adaLN_modulation\\.0\\.(weight|bias))");
        return known ? o : null;
    }

    /** to_q, to_k, to_v in that order (row order of the fused qkv), any other single name as is. */
    private static List<String> qkvOrder(List<String> names) {
        if (names.size() == 1) {
            return names;
        }
        List<String> sorted = new ArrayList<>(names);
        sorted.sort((a, b) -> Integer.compare("qkv".indexOf(qkvLetter(a)), "qkv".indexOf(qkvLetter(b))));
        return sorted;
    }

    private static char qkvLetter(String name) {
        Matcher m = QKV.matcher(name.startsWith(COMFY_PREFIX) ? name.substring(COMFY_PREFIX.length()) : name);
        if (!m.matches()) {
            throw new IllegalArgumentException(name + " is not a to_q/to_k/to_v tensor");
        }
        return m.group(2).charAt(0);
    }

    private static long[] fusedShape(String name, List<StoredTensor> parts) throws ModelFileException {
        if (parts.size() != 1 && parts.size() != 3) {
            throw new ModelFileException(name + ": needs to_q, to_k and to_v, found " + parts.stream().map(StoredTensor::name).toList());
        }
        long[] shape = parts.get(0).shape().clone();
        for (int i = 1; i < parts.size(); i++) {
            long[] s = parts.get(i).shape();
            if (s.length != shape.length || !Arrays.equals(Arrays.copyOfRange(s, 1, s.length), Arrays.copyOfRange(shape, 1, shape.length))) {
                throw new ModelFileException(parts.get(i).where() + " has shape " + Arrays.toString(s) + ", which does not stack with "
                        + parts.get(0).where() + " " + Arrays.toString(parts.get(0).shape()));
            }
            shape[0] += s[0];
        }
        return shape;
    }

    /** The type a tensor is written in (see the class comment). */
    static DType typeFor(String name, long[] shape, DType target, DType stored) {
        long n = StoredTensor.numel(shape);
        boolean keep = shape.length <= 1 || n <= 1024 || name.endsWith("_pad_token")
                || name.startsWith("x_embedder.") || name.startsWith("t_embedder.") || name.startsWith("final_layer.");
        if (keep) {
            return DType.F32;
        }
        if (shape[shape.length - 1] % target.blockElements() != 0) {
            return switch (stored) {
                case F32, F64 -> DType.F32;
                case BF16 -> DType.BF16;
                default -> DType.F16;
            };
        }
        return target;
    }

    /** ComfyUI's per-tensor fp8 scale ({@code X.scale_weight} beside {@code X.weight}), else 1. */
    private static float scale(TensorSource src, String name) {
        if (!name.endsWith(".weight")) {
            return 1f;
        }
        StoredTensor s = src.find(name.substring(0, name.length() - "weight".length()) + "scale_weight");
        return s == null ? 1f : s.getFloat(0);
    }

    /** ggml's {@code general.file_type} (llama_ftype) for a target type. */
    static int fileType(DType target) {
        return switch (target) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q4_K -> 14;
            case Q5_K -> 16;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("no GGUF file type for " + target);
        };
    }

    /** A GGUF writer holding the plan; {@link GgufWriter#write} then streams it. */
    public static GgufWriter writer(List<Planned> plan, DType target) {
        return writer(plan, target, false);
    }

    /**
     * As {@link #writer(List, DType)}; with {@code rowScales} (target Q8_0 only) every row's blocks share the
     * row's scale ({@link GgmlQuantizer#q8_0RowScaled}): int8 per output channel, which the int8 units then
     * multiply without re-quantizing the weights.
     */
    public static GgufWriter writer(List<Planned> plan, DType target, boolean rowScales) {
        if (rowScales && target != DType.Q8_0) {
            throw new IllegalArgumentException("row scales are a Q8_0 form, not " + target);
        }
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "lumina2")
                .putUInt32("general.quantization_version", 2)
                .putUInt32("general.file_type", fileType(target));
        if (rowScales) {
            w.putString("zimage4j.q8_0_scales", "per row");
        }
        for (Planned p : plan) {
            w.add(p.name(), p.type(), p.shape(), out -> stream(p, rowScales && p.type() == DType.Q8_0, out));
        }
        return w;
    }

    /** Quantizes {@code src} into {@code out} (written atomically). */
    public static void quantize(TensorSource src, DType target, Path out, GgufWriter.Progress progress) throws IOException {
        writer(plan(src, target), target).write(out, progress);
    }

    /** {@code quantize --type int8}: Q8_0 whose rows share one scale (see {@link #writer(List, DType, boolean)}). */
    public static void quantizeInt8(TensorSource src, Path out, GgufWriter.Progress progress) throws IOException {
        writer(plan(src, DType.Q8_0), DType.Q8_0, true).write(out, progress);
    }

    /** Writes one tensor: rows in chunks, each chunk quantized row by row on the compute pool. */
    private static void stream(Planned p, boolean rowScaled, OutputStream out) throws IOException {
        long cols = p.shape().length == 0 ? 1 : p.shape()[p.shape().length - 1];
        if (cols > Integer.MAX_VALUE / 8) {
            throw new IOException(p.name() + ": rows of " + cols + " values are too long");
        }
        int rowValues = (int) cols;
        int rowBytes = (int) p.type().byteSize(cols);
        int chunkRows = Math.max(1, (1 << 22) / Math.max(rowBytes, rowValues * 4));
        for (int part = 0; part < p.parts().size(); part++) {
            StoredTensor t = p.parts().get(part);
            float scale = p.scales().get(part);
            long rows = t.numel() / cols;
            for (long r0 = 0; r0 < rows; r0 += chunkRows) {
                int n = (int) Math.min(chunkRows, rows - r0);
                byte[] buf = new byte[n * rowBytes];
                long first = r0;
                Parallel.get().forEach(n, r -> {
                    float[] row = new float[rowValues];
                    read(t, (first + r) * cols, row, scale);
                    if (rowScaled) {
                        GgmlQuantizer.q8_0RowScaled(row, 0, rowValues, buf, r * rowBytes);
                    } else {
                        GgmlQuantizer.quantize(p.type(), row, 0, rowValues, buf, r * rowBytes);
                    }
                });
                out.write(buf);
            }
        }
    }

    /** {@code dst.length} values of {@code t} from flat index {@code start}, times {@code scale}. */
    private static void read(StoredTensor t, long start, float[] dst, float scale) {
        MemorySegment d = t.data();
        int n = dst.length;
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(d, F32, start * 4, dst, 0, n);
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    dst[i] = Float.intBitsToFloat(d.getAtIndex(I16, start + i) << 16);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst[i] = Float.float16ToFloat(d.getAtIndex(I16, start + i));
                }
            }
            default -> {
                for (int i = 0; i < n; i++) {
                    dst[i] = t.getFloat(start + i);
                }
            }
        }
        if (scale != 1f) {
            for (int i = 0; i < n; i++) {
                dst[i] *= scale;
            }
        }
    }
}
