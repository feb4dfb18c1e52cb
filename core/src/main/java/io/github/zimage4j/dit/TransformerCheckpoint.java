package io.github.zimage4j.dit;

import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.io.TensorView;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Recognizes the file layouts of a Z-Image transformer and presents each under the diffusers names the
 * model binds, and derives the config of a checkpoint that comes without one from its tensor shapes.
 *
 * <p>Layouts: diffusers ({@code transformer/} of the Hub repos) and the original / ComfyUI single file
 * ({@code z_image_turbo_bf16.safetensors}, and the GGUF files of stable-diffusion.cpp and ComfyUI-GGUF,
 * which use the same names). The original layout, mapped as diffusers' {@code
 * convert_z_image_transformer_checkpoint_to_diffusers} does:
 * <pre>
 *   optional prefix model.diffusion_model.             stripped
 *   x_embedder.*                                       → all_x_embedder.2-1.*
 *   final_layer.*                                      → all_final_layer.2-1.*
 *   &lt;block&gt;.attention.qkv.weight [3·dim, dim]           → to_q / to_k / to_v: row views [0,dim), [dim,2dim), [2dim,3dim)
 *   &lt;block&gt;.attention.out.*                            → &lt;block&gt;.attention.to_out.0.*
 *   &lt;block&gt;.attention.q_norm / k_norm                  → norm_q / norm_k
 *   norm_final.weight                                  dropped (the model has no such tensor)
 * </pre>
 * Every view is zero-copy.
 */
public final class TransformerCheckpoint {

    private TransformerCheckpoint() {
    }

    public static final String COMFY_PREFIX = "model.diffusion_model.";

    /** How a transformer checkpoint names its tensors. */
    public enum Layout {
        /** diffusers: {@code layers.0.attention.to_q.weight}, {@code all_x_embedder.2-1.weight}. */
        DIFFUSERS,
        /** original / ComfyUI / GGUF: {@code layers.0.attention.qkv.weight}, {@code x_embedder.weight}. */
        ORIGINAL
    }

    private static final Pattern BLOCK = Pattern.compile("(layers|noise_refiner|context_refiner)\\.(\\d+)\\.(.+)");
    private static final Set<String> BLOCK_PARTS = Set.of("attention_norm1.weight", "attention_norm2.weight",
            "ffn_norm1.weight", "ffn_norm2.weight", "feed_forward.w1.weight", "feed_forward.w2.weight",
            "feed_forward.w3.weight", "adaLN_modulation.0.weight", "adaLN_modulation.0.bias");
    private static final Set<String> TOP_LEVEL = Set.of("t_embedder.mlp.0.weight", "t_embedder.mlp.0.bias",
            "t_embedder.mlp.2.weight", "t_embedder.mlp.2.bias", "cap_embedder.0.weight", "cap_embedder.1.weight",
            "cap_embedder.1.bias", "x_pad_token", "cap_pad_token");

    public static Layout detect(TensorSource src) throws ModelFileException {
        boolean diffusers = false;
        boolean original = false;
        for (String n : src.names()) {
            String s = strip(n);
            diffusers |= s.startsWith("all_x_embedder.") || s.contains(".attention.to_q.");
            original |= s.startsWith("x_embedder.") || s.contains(".attention.qkv.");
        }
        if (diffusers && original) {
            throw new ModelFileException(src.description() + ": mixes diffusers transformer names (attention.to_q, "
                    + "all_x_embedder) with original ones (attention.qkv, x_embedder); a checkpoint must use one layout");
        }
        if (!diffusers && !original) {
            throw new ModelFileException(src.description() + ": not a Z-Image transformer in a known layout (diffusers"
                    + " or original/ComfyUI); tensors that could not be placed: " + unplaced(src.names()));
        }
        return original ? Layout.ORIGINAL : Layout.DIFFUSERS;
    }

    /** The source itself for the diffusers layout, else its renaming view; the view closes the source. */
    public static TensorSource inDiffusersNames(TensorSource src) throws ModelFileException {
        return detect(src) == Layout.ORIGINAL ? OriginalLayout.of(src) : src;
    }

    private static String strip(String n) {
        return n.startsWith(COMFY_PREFIX) ? n.substring(COMFY_PREFIX.length()) : n;
    }

    /** Names neither layout knows (at most 20 shown). */
    private static String unplaced(Set<String> names) {
        List<String> out = new ArrayList<>();
        for (String n : new TreeSet<>(names)) {
            if (diffusersName(strip(n)) == null && !known(strip(n))) {
                out.add(n);
            }
        }
        return out.size() > 20 ? out.subList(0, 20) + " and " + (out.size() - 20) + " more" : out.toString();
    }

    private static boolean known(String n) {
        if (TOP_LEVEL.contains(n) || n.startsWith("all_x_embedder.") || n.startsWith("all_final_layer.")) {
            return true;
        }
        Matcher m = BLOCK.matcher(n);
        return m.matches() && (BLOCK_PARTS.contains(m.group(3)) || m.group(3).startsWith("attention.to_")
                || m.group(3).startsWith("attention.norm_"));
    }

    /** The diffusers name of an original-layout tensor (prefix already stripped), or null if it has none. */
    static String diffusersName(String n) {
        if (n.startsWith("x_embedder.")) {
            return "all_x_embedder.2-1." + n.substring("x_embedder.".length());
        }
        if (n.startsWith("final_layer.")) {
            return "all_final_layer.2-1." + n.substring("final_layer.".length());
        }
        if (TOP_LEVEL.contains(n)) {
            return n;
        }
        Matcher m = BLOCK.matcher(n);
        if (!m.matches()) {
            return null;
        }
        String block = m.group(1) + "." + m.group(2) + ".";
        String part = m.group(3);
        if (BLOCK_PARTS.contains(part)) {
            return n;
        }
        return switch (part) {
            case "attention.out.weight" -> block + "attention.to_out.0.weight";
            case "attention.out.bias" -> block + "attention.to_out.0.bias";
            case "attention.q_norm.weight" -> block + "attention.norm_q.weight";
            case "attention.k_norm.weight" -> block + "attention.norm_k.weight";
            default -> null;
        };
    }

    /**
     * The config a diffusers-named checkpoint implies: layers, refiner layers, dim, heads (dim / the q-norm
     * width), caption width and latent channels from the shapes; the rest as the published model has it
     * (RoPE axes split the head size 1:1.5:1.5 as in Z-Image, 32/48/48 for its 128).
     */
    public static ZImageTransformerConfig deriveConfig(TensorSource w) throws ModelFileException {
        return deriveConfig(w.shapes(), w.description());
    }

    /** As {@link #deriveConfig(TensorSource)}, from diffusers-named shapes ({@code source} names them in errors). */
    public static ZImageTransformerConfig deriveConfig(Map<String, long[]> shapes, String source) throws ModelFileException {
        ZImageTransformerConfig pub = ZImageTransformerConfig.published();
        long[] xEmbed = shape(shapes, "all_x_embedder.2-1.weight", 2, source);
        long[] capNorm = shape(shapes, "cap_embedder.0.weight", 1, source);
        int dim = Math.toIntExact(xEmbed[0]);
        int patchDim = Math.toIntExact(xEmbed[1]);
        if (patchDim % 4 != 0) {
            throw new ModelFileException(source + ": all_x_embedder.2-1.weight has " + patchDim
                    + " inputs, not 2×2 patches of latent channels");
        }
        int layers = count(shapes.keySet(), "layers.");
        int refiners = count(shapes.keySet(), "noise_refiner.");
        long[] qNorm = shapes.get("layers.0.attention.norm_q.weight");
        int headDim = qNorm != null && qNorm.length == 1 ? Math.toIntExact(qNorm[0]) : pub.headDim();
        if (headDim % 8 != 0 || dim % headDim != 0) {
            throw new ModelFileException(source + ": head size " + headDim + " (from norm_q) does not divide dim "
                    + dim + " into heads with RoPE axes");
        }
        int[] axes = {headDim / 4, headDim * 3 / 8, headDim * 3 / 8};
        return new ZImageTransformerConfig(pub.patchSize(), pub.fPatchSize(), patchDim / 4, dim, layers, refiners,
                dim / headDim, dim / headDim, pub.normEps(), qNorm != null, Math.toIntExact(capNorm[0]),
                pub.ropeTheta(), pub.tScale(), axes, pub.axesLens());
    }

    private static long[] shape(Map<String, long[]> shapes, String name, int rank, String source) throws ModelFileException {
        return TensorView.shape(shapes, name, rank, source + ": cannot derive the transformer config");
    }

    private static int count(Set<String> names, String prefix) {
        int max = -1;
        for (String n : names) {
            if (n.startsWith(prefix)) {
                int dot = n.indexOf('.', prefix.length());
                if (dot > 0) {
                    try {
                        max = Math.max(max, Integer.parseInt(n.substring(prefix.length(), dot)));
                    } catch (NumberFormatException ignored) {
                        // not a numbered block
                    }
                }
            }
        }
        return max + 1;
    }

    /** The original / ComfyUI layout seen under diffusers names. */
    static final class OriginalLayout {

        private OriginalLayout() {
        }

        static TensorView of(TensorSource source) throws ModelFileException {
            Map<String, StoredTensor> out = new TreeMap<>();
            Map<String, String> from = new TreeMap<>();
            for (String name : source.names()) {
                String n = strip(name);
                StoredTensor t = source.find(name);
                if (n.equals("norm_final.weight")) {
                    continue; // a stray tensor of the original training code; the model has none
                }
                Matcher m = BLOCK.matcher(n);
                if (m.matches() && m.group(3).equals("attention.qkv.weight")) {
                    if (t.rank() != 2 || t.dim(0) % 3 != 0) {
                        throw new ModelFileException(t.where() + ": a fused qkv weight must be [3·dim, dim], found "
                                + java.util.Arrays.toString(t.shape()));
                    }
                    long d = t.dim(0) / 3;
                    String block = m.group(1) + "." + m.group(2) + ".attention.";
                    String[] parts = {"to_q", "to_k", "to_v"};
                    for (int i = 0; i < 3; i++) {
                        TensorView.put(out, from, source, block + parts[i] + ".weight", name, t.rows(i * d, d));
                    }
                    continue;
                }
                String mapped = diffusersName(n);
                // A name outside the scheme keeps its own name, so the checkpoint check reports it as unexpected.
                TensorView.put(out, from, source, mapped != null ? mapped : name, name, t);
            }
            return new TensorView(source, source.description() + " (original/ComfyUI transformer layout)", out);
        }
    }
}
