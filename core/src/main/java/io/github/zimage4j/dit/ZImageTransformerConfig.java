package io.github.zimage4j.dit;

import io.github.zimage4j.io.JsonConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The S3-DiT hyper-parameters, read from the real {@code transformer/config.json} keys.
 *
 * @param patchSize    spatial patch (all_patch_size[0], 2)
 * @param fPatchSize   frame patch (all_f_patch_size[0], 1)
 * @param inChannels   latent channels (16)
 * @param dim          hidden size (3840)
 * @param nLayers      main (unified) layers (30)
 * @param nRefinerLayers noise- and context-refiner layers each (2)
 * @param nHeads       attention heads (30); head size is dim / nHeads
 * @param nKvHeads     recorded but unused: attention is always multi-head
 * @param normEps      block RMSNorm epsilon
 * @param qkNorm       per-head RMSNorm of q and k
 * @param capFeatDim   caption feature width (2560, the text encoder's hidden size)
 * @param ropeTheta    RoPE base (256)
 * @param tScale       timestep multiplier (1000)
 * @param axesDims     RoPE dims per axis (frame, height, width); sum = head size
 * @param axesLens     RoPE table length per axis (the largest position + 1)
 */
public record ZImageTransformerConfig(int patchSize, int fPatchSize, int inChannels, int dim, int nLayers,
                                      int nRefinerLayers, int nHeads, int nKvHeads, float normEps, boolean qkNorm,
                                      int capFeatDim, double ropeTheta, float tScale, int[] axesDims, int[] axesLens) {

    /** Width of the timestep embedding that drives every modulation. */
    public static final int ADALN_EMBED_DIM = 256;
    /** Image and caption streams are each padded to a multiple of this many tokens. */
    public static final int SEQ_MULTI_OF = 32;
    /** Hidden width of the timestep MLP. */
    public static final int T_EMBED_MID = 1024;
    /** Sinusoid width fed to the timestep MLP. */
    public static final int T_FREQ_DIM = 256;

    public ZImageTransformerConfig {
        if (dim % nHeads != 0) {
            throw new JsonConfig.ConfigException("dim " + dim + " is not divisible by n_heads " + nHeads);
        }
        if (Arrays.stream(axesDims).sum() != dim / nHeads) {
            throw new JsonConfig.ConfigException("axes_dims " + Arrays.toString(axesDims) + " must sum to the head size "
                    + dim / nHeads);
        }
        if (axesDims.length != 3 || axesLens.length != 3) {
            throw new JsonConfig.ConfigException("axes_dims and axes_lens need 3 entries (frame, height, width)");
        }
        for (int d : axesDims) {
            if (d % 2 != 0) {
                throw new JsonConfig.ConfigException("axes_dims " + Arrays.toString(axesDims) + " must be even");
            }
        }
        axesDims = axesDims.clone();
        axesLens = axesLens.clone();
    }

    /** The published Z-Image / Z-Image-Turbo transformer (both share it): 6.15 B parameters. */
    public static ZImageTransformerConfig published() {
        return new ZImageTransformerConfig(2, 1, 16, 3840, 30, 2, 30, 30, 1e-5f, true, 2560, 256.0, 1000f,
                new int[]{32, 48, 48}, new int[]{1536, 512, 512});
    }

    public static ZImageTransformerConfig read(Path configJson) throws IOException {
        return from(JsonConfig.read(configJson));
    }

    public static ZImageTransformerConfig from(JsonConfig c) {
        int[] patch = c.getIntArray("all_patch_size", new int[]{2});
        int[] fPatch = c.getIntArray("all_f_patch_size", new int[]{1});
        if (patch.length != 1 || fPatch.length != 1) {
            throw new JsonConfig.ConfigException(c.source() + ": only one patch size is supported, found all_patch_size "
                    + Arrays.toString(patch) + ", all_f_patch_size " + Arrays.toString(fPatch));
        }
        if (c.has("siglip_feat_dim")) {
            throw new JsonConfig.ConfigException(c.source() + ": siglip_feat_dim is set: this is a Z-Image-Omni transformer,"
                    + " which zimage4j does not support yet");
        }
        try {
            return new ZImageTransformerConfig(patch[0], fPatch[0], c.getInt("in_channels", 16), c.getInt("dim"),
                    c.getInt("n_layers"), c.getInt("n_refiner_layers"), c.getInt("n_heads"),
                    c.getInt("n_kv_heads", c.getInt("n_heads")), (float) c.getDouble("norm_eps"),
                    c.getBoolean("qk_norm", true), c.getInt("cap_feat_dim"), c.getDouble("rope_theta"),
                    (float) c.getDouble("t_scale"), c.getIntArray("axes_dims"), c.getIntArray("axes_lens"));
        } catch (JsonConfig.ConfigException e) {
            if (e.getMessage().startsWith(c.source())) {
                throw e;
            }
            throw new JsonConfig.ConfigException(c.source() + ": " + e.getMessage());
        }
    }

    public int headDim() {
        return dim / nHeads;
    }

    /** SwiGLU hidden width, {@code int(dim / 3 * 8)} as the reference computes it. */
    public int ffnDim() {
        return (int) (dim / 3.0 * 8);
    }

    public int adalnDim() {
        return Math.min(dim, ADALN_EMBED_DIM);
    }

    /** Values per image token: pF·pH·pW·C. */
    public int patchDim() {
        return fPatchSize * patchSize * patchSize * inChannels;
    }

    /** Suffix of the embedder and final-layer names, e.g. "2-1". */
    public String patchKey() {
        return patchSize + "-" + fPatchSize;
    }

    /** Every tensor of the diffusers-layout checkpoint, with its shape, as this config implies. */
    public Map<String, long[]> expectedTensors() {
        Map<String, long[]> t = new LinkedHashMap<>();
        String pk = patchKey();
        t.put("all_x_embedder." + pk + ".weight", new long[]{dim, patchDim()});
        t.put("all_x_embedder." + pk + ".bias", new long[]{dim});
        t.put("all_final_layer." + pk + ".adaLN_modulation.1.weight", new long[]{dim, adalnDim()});
        t.put("all_final_layer." + pk + ".adaLN_modulation.1.bias", new long[]{dim});
        t.put("all_final_layer." + pk + ".linear.weight", new long[]{patchDim(), dim});
        t.put("all_final_layer." + pk + ".linear.bias", new long[]{patchDim()});
        t.put("t_embedder.mlp.0.weight", new long[]{T_EMBED_MID, T_FREQ_DIM});
        t.put("t_embedder.mlp.0.bias", new long[]{T_EMBED_MID});
        t.put("t_embedder.mlp.2.weight", new long[]{adalnDim(), T_EMBED_MID});
        t.put("t_embedder.mlp.2.bias", new long[]{adalnDim()});
        t.put("cap_embedder.0.weight", new long[]{capFeatDim});
        t.put("cap_embedder.1.weight", new long[]{dim, capFeatDim});
        t.put("cap_embedder.1.bias", new long[]{dim});
        t.put("x_pad_token", new long[]{1, dim});
        t.put("cap_pad_token", new long[]{1, dim});
        for (int i = 0; i < nRefinerLayers; i++) {
            blockTensors(t, "noise_refiner." + i, true);
        }
        for (int i = 0; i < nRefinerLayers; i++) {
            blockTensors(t, "context_refiner." + i, false);
        }
        for (int i = 0; i < nLayers; i++) {
            blockTensors(t, "layers." + i, true);
        }
        return t;
    }

    /** The tensors of one block under prefix {@code p} (also a ControlNet block's base set). */
    public void blockTensors(Map<String, long[]> t, String p, boolean modulated) {
        int hd = headDim();
        for (String proj : new String[]{"to_q", "to_k", "to_v", "to_out.0"}) {
            t.put(p + ".attention." + proj + ".weight", new long[]{dim, dim});
        }
        if (qkNorm) {
            t.put(p + ".attention.norm_q.weight", new long[]{hd});
            t.put(p + ".attention.norm_k.weight", new long[]{hd});
        }
        t.put(p + ".feed_forward.w1.weight", new long[]{ffnDim(), dim});
        t.put(p + ".feed_forward.w2.weight", new long[]{dim, ffnDim()});
        t.put(p + ".feed_forward.w3.weight", new long[]{ffnDim(), dim});
        for (String n : new String[]{"attention_norm1", "attention_norm2", "ffn_norm1", "ffn_norm2"}) {
            t.put(p + "." + n + ".weight", new long[]{dim});
        }
        if (modulated) {
            t.put(p + ".adaLN_modulation.0.weight", new long[]{4L * dim, adalnDim()});
            t.put(p + ".adaLN_modulation.0.bias", new long[]{4L * dim});
        }
    }

    /** Tokens after padding to a multiple of {@link #SEQ_MULTI_OF}. */
    public static int padded(int tokens) {
        return (tokens + SEQ_MULTI_OF - 1) / SEQ_MULTI_OF * SEQ_MULTI_OF;
    }

    /**
     * FLOPs of one forward for one sample (1 multiply-add = 2 FLOP): every linear layer and both
     * attention products (QKᵀ and PV); norms, RoPE and other element-wise work (&lt; 1 %) are not counted.
     * Refiners run on their own stream, the main layers on image + caption.
     */
    public double forwardFlops(int latentHeight, int latentWidth, int captionTokens) {
        long img = padded((latentHeight / patchSize) * (latentWidth / patchSize));
        long cap = padded(captionTokens);
        long all = img + cap;
        double perTokenLinear = 2.0 * (4.0 * dim * dim + 3.0 * dim * ffnDim());
        double blocks = 0;
        for (long[] run : new long[][]{{all, nLayers}, {img, nRefinerLayers}, {cap, nRefinerLayers}}) {
            blocks += run[1] * (run[0] * perTokenLinear + 4.0 * run[0] * run[0] * dim);
        }
        double embed = 2.0 * img * patchDim() * dim + 2.0 * cap * capFeatDim * dim + 2.0 * all * dim * patchDim();
        double modulation = (nLayers + nRefinerLayers) * 2.0 * adalnDim() * 4 * dim
                + 2.0 * (T_FREQ_DIM * T_EMBED_MID + T_EMBED_MID * adalnDim());
        return blocks + embed + modulation;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ZImageTransformerConfig c && c.toString().equals(toString());
    }

    @Override
    public int hashCode() {
        return toString().hashCode();
    }

    @Override
    public String toString() {
        return "ZImageTransformerConfig[dim=" + dim + ", layers=" + nLayers + ", refiners=" + nRefinerLayers
                + ", heads=" + nHeads + ", capFeatDim=" + capFeatDim + ", axesDims=" + Arrays.toString(axesDims)
                + ", axesLens=" + Arrays.toString(axesLens) + ", patch=" + patchKey() + ", normEps=" + normEps
                + ", ropeTheta=" + ropeTheta + ", tScale=" + tScale + ", qkNorm=" + qkNorm + "]";
    }
}
