package io.github.zimage4j.io;

import io.github.zimage4j.tensor.StoredTensor;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * ComfyUI's scaled fp8 checkpoints seen as plain weights: each {@code L.weight} stored as
 * {@code F8_E4M3}/{@code F8_E5M2} with a per-tensor float scale reads as a weight whose decoded values are
 * multiplied by that scale inside the kernels ({@link StoredTensor#scale()}), and the scale tensors and
 * markers disappear from the names. Two ways ComfyUI writes them:
 * <ul>
 *   <li>"scaled fp8" (older): a marker tensor {@code scaled_fp8} and {@code L.scale_weight} per weight
 *       (with an optional {@code L.scale_input});</li>
 *   <li>{@code comfy_quant} (newer, ComfyUI's QUANTIZATION.md): {@code L.weight_scale}, an optional
 *       {@code L.input_scale}, and {@code L.comfy_quant}, the layer's JSON config as bytes, e.g.
 *       {@code {"format": "float8_e4m3fn"}}.</li>
 * </ul>
 * Input scales only matter to fp8 matrix units, which quantize the activations too; here activations stay
 * float32, so they are dropped. Formats other than the two fp8 ones (int8, nvfp4) are refused by name.
 */
public final class ScaledWeights {

    private static final List<String> DROPPED = List.of(".scale_input", ".input_scale", ".comfy_quant");

    private ScaledWeights() {
    }

    /** Whether the source holds scaled weights in either of ComfyUI's forms. */
    public static boolean applies(TensorSource source) {
        for (String n : source.names()) {
            if (n.equals("scaled_fp8") || n.endsWith(".scale_weight") || n.endsWith(".weight_scale") || n.endsWith(".comfy_quant")) {
                return true;
            }
        }
        return false;
    }

    /** The source itself when it holds no scaled weights, else the view (which closes the source). */
    public static TensorSource of(TensorSource source) throws ModelFileException {
        if (!applies(source)) {
            return source;
        }
        Map<String, StoredTensor> out = new TreeMap<>();
        for (String n : source.names()) {
            if (n.equals("scaled_fp8") || n.endsWith(".scale_weight") || n.endsWith(".weight_scale")
                    || DROPPED.stream().anyMatch(n::endsWith)) {
                continue;
            }
            out.put(n, source.find(n));
        }
        for (String n : source.names()) {
            String layer;
            if (n.endsWith(".comfy_quant")) {
                layer = n.substring(0, n.length() - ".comfy_quant".length());
                checkFormat(source, source.find(n), layer);
                continue;
            } else if (n.endsWith(".scale_weight")) {
                layer = n.substring(0, n.length() - ".scale_weight".length());
            } else if (n.endsWith(".weight_scale")) {
                layer = n.substring(0, n.length() - ".weight_scale".length());
            } else {
                continue;
            }
            StoredTensor scale = source.find(n);
            StoredTensor weight = source.find(layer + ".weight");
            if (weight == null) {
                throw new ModelFileException(scale.where() + ": a weight scale without its weight '" + layer + ".weight'");
            }
            if (scale.numel() != 1 || !scale.dtype().isFloatingPoint()) {
                throw new ModelFileException(scale.where() + ": only a single float per-tensor scale is supported, found "
                        + scale.dtype() + java.util.Arrays.toString(scale.shape()));
            }
            if (weight.dtype() != DType.F8_E4M3 && weight.dtype() != DType.F8_E5M2) {
                throw new ModelFileException(weight.where() + ": has a scale but is stored as " + weight.dtype()
                        + ", not fp8");
            }
            float s = scale.getFloat(0);
            if (!Float.isFinite(s)) {
                throw new ModelFileException(scale.where() + ": scale " + s + " is not finite");
            }
            out.put(layer + ".weight", weight.withScale(s));
        }
        return new TensorView(source, source.description(), out);
    }

    private static void checkFormat(TensorSource source, StoredTensor config, String layer) throws ModelFileException {
        byte[] bytes = new byte[Math.toIntExact(config.numel())];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) config.getLong(i);
        }
        Object json;
        try {
            json = Json.parse(new String(bytes, StandardCharsets.UTF_8));
        } catch (Json.JsonException e) {
            throw new ModelFileException(config.where() + ": not a JSON layer config: " + e.getMessage());
        }
        Object format = json instanceof Map<?, ?> m ? m.get("format") : json;
        if (!"float8_e4m3fn".equals(format) && !"float8_e5m2".equals(format)) {
            throw new ModelFileException(source.description() + ": layer '" + layer + "' is quantized as " + format
                    + ", which zimage4j does not read (supported: float8_e4m3fn, float8_e5m2 with a per-tensor scale)");
        }
    }
}
