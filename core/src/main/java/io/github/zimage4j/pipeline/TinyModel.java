package io.github.zimage4j.pipeline;

import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.RandomCheckpoint;
import io.github.zimage4j.textencoder.Qwen3Config;
import io.github.zimage4j.vae.VaeConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a tiny Z-Image-Turbo model with random weights and the full diffusers folder layout
 * (model_index.json, transformer/, text_encoder/, vae/, scheduler/; the tokenizer is the bundled one). It
 * has the real architecture, vocabulary and tensor names at toy widths, so a smoke run exercises every
 * stage in a second; its images are noise.
 */
public final class TinyModel {

    private TinyModel() {
    }

    public static final ZImageTransformerConfig TRANSFORMER = new ZImageTransformerConfig(2, 1, 16, 64, 2, 1, 2, 2,
            1e-5f, true, 32, 256.0, 1000f, new int[]{8, 12, 12}, new int[]{1536, 512, 512});
    public static final Qwen3Config TEXT_ENCODER = new Qwen3Config(32, 3, 2, 1, 16, 64, 1e-6f, 1_000_000, 151936, true);
    public static final VaeConfig VAE = new VaeConfig(3, 3, 16, new int[]{32, 32, 64, 64}, 1, 8, true, 0.3611f, 0.1159f);

    /** Writes the model into {@code dir} (created; existing component files are replaced). */
    public static void write(Path dir, long seed) throws IOException {
        writeLayout(dir, TRANSFORMER, TEXT_ENCODER, VAE, Variant.TURBO);
        RandomCheckpoint.write(dir.resolve("transformer/diffusion_pytorch_model.safetensors"), TRANSFORMER.expectedTensors(), DType.BF16, seed);
        RandomCheckpoint.write(dir.resolve("text_encoder/model.safetensors"), TEXT_ENCODER.expectedTensors(), DType.BF16, seed + 1);
        RandomCheckpoint.write(dir.resolve("vae/diffusion_pytorch_model.safetensors"), VAE.expectedTensors(), DType.BF16, seed + 2);
    }

    /**
     * Writes a diffusers folder's model_index.json and every component's config (with the real keys) for
     * these configurations; the caller puts the weight files in place (transformer/, text_encoder/, vae/).
     */
    public static void writeLayout(Path dir, ZImageTransformerConfig c, Qwen3Config q, VaeConfig a, Variant variant)
            throws IOException {
        Files.createDirectories(dir);
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("_class_name", "ZImagePipeline");
        index.put("_diffusers_version", "0.36.0.dev0");
        index.put("scheduler", List.of("diffusers", "FlowMatchEulerDiscreteScheduler"));
        index.put("text_encoder", List.of("transformers", "Qwen3Model"));
        index.put("tokenizer", List.of("transformers", "Qwen2Tokenizer"));
        index.put("transformer", List.of("diffusers", "ZImageTransformer2DModel"));
        index.put("vae", List.of("diffusers", "AutoencoderKL"));
        Files.writeString(dir.resolve("model_index.json"), Json.write(index));

        Path t = Files.createDirectories(dir.resolve("transformer"));
        Map<String, Object> tc = new LinkedHashMap<>();
        tc.put("_class_name", "ZImageTransformer2DModel");
        tc.put("all_patch_size", List.of((long) c.patchSize()));
        tc.put("all_f_patch_size", List.of((long) c.fPatchSize()));
        tc.put("in_channels", (long) c.inChannels());
        tc.put("dim", (long) c.dim());
        tc.put("n_layers", (long) c.nLayers());
        tc.put("n_refiner_layers", (long) c.nRefinerLayers());
        tc.put("n_heads", (long) c.nHeads());
        tc.put("n_kv_heads", (long) c.nKvHeads());
        tc.put("norm_eps", (double) c.normEps());
        tc.put("qk_norm", c.qkNorm());
        tc.put("cap_feat_dim", (long) c.capFeatDim());
        tc.put("rope_theta", c.ropeTheta());
        tc.put("t_scale", (double) c.tScale());
        tc.put("axes_dims", longs(c.axesDims()));
        tc.put("axes_lens", longs(c.axesLens()));
        Files.writeString(t.resolve("config.json"), Json.write(tc));

        Path te = Files.createDirectories(dir.resolve("text_encoder"));
        Map<String, Object> qc = new LinkedHashMap<>();
        qc.put("architectures", List.of("Qwen3ForCausalLM"));
        qc.put("model_type", "qwen3");
        qc.put("hidden_size", (long) q.hiddenSize());
        qc.put("num_hidden_layers", (long) q.numHiddenLayers());
        qc.put("num_attention_heads", (long) q.numAttentionHeads());
        qc.put("num_key_value_heads", (long) q.numKeyValueHeads());
        qc.put("head_dim", (long) q.headDim());
        qc.put("intermediate_size", (long) q.intermediateSize());
        qc.put("hidden_act", "silu");
        qc.put("rms_norm_eps", (double) q.rmsNormEps());
        qc.put("rope_theta", q.ropeTheta());
        qc.put("vocab_size", (long) q.vocabSize());
        qc.put("tie_word_embeddings", q.tieWordEmbeddings());
        qc.put("attention_bias", false);
        Files.writeString(te.resolve("config.json"), Json.write(qc));

        Path v = Files.createDirectories(dir.resolve("vae"));
        Map<String, Object> vc = new LinkedHashMap<>();
        vc.put("_class_name", "AutoencoderKL");
        vc.put("in_channels", (long) a.inChannels());
        vc.put("out_channels", (long) a.outChannels());
        vc.put("latent_channels", (long) a.latentChannels());
        vc.put("block_out_channels", longs(a.blockOutChannels()));
        vc.put("layers_per_block", (long) a.layersPerBlock());
        vc.put("norm_num_groups", (long) a.normNumGroups());
        vc.put("act_fn", "silu");
        vc.put("mid_block_add_attention", a.midBlockAddAttention());
        vc.put("use_quant_conv", false);
        vc.put("use_post_quant_conv", false);
        vc.put("scaling_factor", (double) a.scalingFactor());
        vc.put("shift_factor", (double) a.shiftFactor());
        Files.writeString(v.resolve("config.json"), Json.write(vc));

        Path s = Files.createDirectories(dir.resolve("scheduler"));
        Map<String, Object> sc = new LinkedHashMap<>();
        sc.put("_class_name", "FlowMatchEulerDiscreteScheduler");
        sc.put("num_train_timesteps", 1000L);
        sc.put("use_dynamic_shifting", false);
        sc.put("shift", variant.schedulerShift());
        Files.writeString(s.resolve("scheduler_config.json"), Json.write(sc));
    }

    private static List<Long> longs(int[] v) {
        return java.util.Arrays.stream(v).mapToObj(x -> (long) x).toList();
    }
}
