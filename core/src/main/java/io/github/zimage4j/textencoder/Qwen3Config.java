package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.JsonConfig;
import io.github.zimage4j.io.JsonConfig.ConfigException;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Qwen3 decoder hyper-parameters, read from the real {@code text_encoder/config.json} keys
 * (transformers {@code Qwen3Config}). Only what the encoder computes with is kept; features the encoder
 * does not implement (attention bias, RoPE scaling, sliding windows, another activation) are refused
 * with an error naming the key, rather than silently computing something else.
 *
 * @param hiddenSize            residual width (2560)
 * @param numHiddenLayers       decoder layers in the checkpoint (36); the encoder runs all but the last
 * @param numAttentionHeads     query heads (32)
 * @param numKeyValueHeads      key/value heads (8); each serves {@code heads / kvHeads} consecutive query heads
 * @param headDim               per-head width (128), explicit: not hiddenSize / heads in general
 * @param intermediateSize      SwiGLU hidden width (9728)
 * @param rmsNormEps            epsilon of every RMSNorm, q/k norms included (1e-6)
 * @param ropeTheta             RoPE base (1e6)
 * @param vocabSize             rows of the embedding table (151936)
 * @param tieWordEmbeddings     the LM head reuses the embeddings, so checkpoints hold no {@code lm_head}
 */
public record Qwen3Config(int hiddenSize, int numHiddenLayers, int numAttentionHeads, int numKeyValueHeads,
                          int headDim, int intermediateSize, float rmsNormEps, double ropeTheta, int vocabSize,
                          boolean tieWordEmbeddings) {

    /** Stored names carry this prefix (a Qwen3ForCausalLM checkpoint); {@code Qwen3Model} names lack it. */
    public static final String PREFIX = "model.";

    /**
     * Qwen3-4B as Z-Image ships it ({@code text_encoder/config.json}): for files that come without a
     * config, such as ComfyUI's {@code qwen_3_4b.safetensors}.
     */
    public static final Qwen3Config QWEN3_4B = new Qwen3Config(2560, 36, 32, 8, 128, 9728, 1e-6f, 1_000_000, 151936, true);

    public Qwen3Config {
        positive("hidden_size", hiddenSize);
        positive("num_hidden_layers", numHiddenLayers);
        positive("num_attention_heads", numAttentionHeads);
        positive("num_key_value_heads", numKeyValueHeads);
        positive("head_dim", headDim);
        positive("intermediate_size", intermediateSize);
        positive("vocab_size", vocabSize);
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new ConfigException("num_attention_heads " + numAttentionHeads
                    + " is not a multiple of num_key_value_heads " + numKeyValueHeads);
        }
        if (headDim % 2 != 0) {
            throw new ConfigException("head_dim " + headDim + " must be even (RoPE rotates its two halves)");
        }
        if (!(rmsNormEps > 0)) {
            throw new ConfigException("rms_norm_eps must be > 0, found " + rmsNormEps);
        }
        if (!(ropeTheta > 0)) {
            throw new ConfigException("rope_theta must be > 0, found " + ropeTheta);
        }
    }

    private static void positive(String key, int v) {
        if (v < 1) {
            throw new ConfigException(key + " must be >= 1, found " + v);
        }
    }

    public static Qwen3Config read(Path configJson) throws IOException {
        return from(JsonConfig.read(configJson));
    }

    public static Qwen3Config from(JsonConfig c) {
        String src = c.source();
        String modelType = c.getString("model_type", "qwen3");
        if (!modelType.equals("qwen3")) {
            throw new ConfigException(src + ": model_type is \"" + modelType + "\"; this encoder implements \"qwen3\" only");
        }
        String act = c.getString("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ConfigException(src + ": hidden_act is \"" + act + "\"; Qwen3's MLP is SwiGLU, hidden_act must be \"silu\"");
        }
        if (c.getBoolean("attention_bias", false)) {
            throw new ConfigException(src + ": attention_bias is true; Qwen3 projections have no bias and this encoder supports none");
        }
        if (c.has("rope_scaling")) {
            throw new ConfigException(src + ": rope_scaling is set (" + c.asMap().get("rope_scaling")
                    + "); only the default RoPE (rope_scaling null) is supported");
        }
        if (c.getBoolean("use_sliding_window", false)) {
            throw new ConfigException(src + ": use_sliding_window is true; only full causal attention is supported");
        }
        if (c.asMap().get("layer_types") instanceof List<?> types && types.stream().anyMatch(t -> !"full_attention".equals(t))) {
            throw new ConfigException(src + ": layer_types " + types + " has layers other than \"full_attention\"");
        }
        try {
            int hidden = c.getInt("hidden_size");
            int heads = c.getInt("num_attention_heads");
            // transformers' Qwen3Config defaults head_dim to hidden/heads; the real config states 128 explicitly.
            return new Qwen3Config(hidden, c.getInt("num_hidden_layers"), heads,
                    c.getInt("num_key_value_heads", heads), c.getInt("head_dim", hidden / heads),
                    c.getInt("intermediate_size"), (float) c.getDouble("rms_norm_eps"), ropeTheta(c),
                    c.getInt("vocab_size"), c.getBoolean("tie_word_embeddings", false));
        } catch (ConfigException e) {
            if (e.getMessage().startsWith(src)) {
                throw e;
            }
            throw new ConfigException(src + ": " + e.getMessage());
        }
    }

    /** Top-level {@code rope_theta} (transformers 4.x configs), else transformers 5's {@code rope_parameters}. */
    private static double ropeTheta(JsonConfig c) {
        if (c.has("rope_theta") || !c.has("rope_parameters")) {
            return c.getDouble("rope_theta");
        }
        if (!(c.asMap().get("rope_parameters") instanceof Map<?, ?> params)) {
            throw new ConfigException("rope_parameters is not an object");
        }
        Object type = params.get("rope_type");
        if (type != null && !"default".equals(type)) {
            throw new ConfigException("rope_parameters.rope_type is \"" + type + "\"; only \"default\" is supported");
        }
        if (!(params.get("rope_theta") instanceof Number theta)) {
            throw new ConfigException("rope_parameters has no numeric rope_theta");
        }
        return theta.doubleValue();
    }

    /** Query width, heads · head_dim (4096 for Qwen3-4B, wider than hidden_size). */
    public int qDim() {
        return numAttentionHeads * headDim;
    }

    /** Key and value width, kvHeads · head_dim. */
    public int kvDim() {
        return numKeyValueHeads * headDim;
    }

    /**
     * Every tensor of the stored checkpoint ({@code model.}-prefixed names, no {@code lm_head}) with its
     * shape, the last layer and the final norm included: a checkpoint must be whole even though the
     * encoder never reads those.
     */
    public Map<String, long[]> expectedTensors() {
        Map<String, long[]> t = new LinkedHashMap<>();
        t.put(PREFIX + "embed_tokens.weight", new long[]{vocabSize, hiddenSize});
        for (int i = 0; i < numHiddenLayers; i++) {
            String p = layerPrefix(i);
            t.put(p + "self_attn.q_proj.weight", new long[]{qDim(), hiddenSize});
            t.put(p + "self_attn.k_proj.weight", new long[]{kvDim(), hiddenSize});
            t.put(p + "self_attn.v_proj.weight", new long[]{kvDim(), hiddenSize});
            t.put(p + "self_attn.o_proj.weight", new long[]{hiddenSize, qDim()});
            t.put(p + "self_attn.q_norm.weight", new long[]{headDim});
            t.put(p + "self_attn.k_norm.weight", new long[]{headDim});
            t.put(p + "mlp.gate_proj.weight", new long[]{intermediateSize, hiddenSize});
            t.put(p + "mlp.up_proj.weight", new long[]{intermediateSize, hiddenSize});
            t.put(p + "mlp.down_proj.weight", new long[]{hiddenSize, intermediateSize});
            t.put(p + "input_layernorm.weight", new long[]{hiddenSize});
            t.put(p + "post_attention_layernorm.weight", new long[]{hiddenSize});
        }
        t.put(PREFIX + "norm.weight", new long[]{hiddenSize});
        return t;
    }

    /** {@code model.layers.i.} */
    static String layerPrefix(int i) {
        return PREFIX + "layers." + i + ".";
    }
}
