package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.io.TensorView;
import io.github.zimage4j.tensor.StoredTensor;

import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Presents a Qwen3 text encoder checkpoint under the Hugging Face names the encoder binds
 * ({@code model.layers.0.self_attn.q_proj.weight}), whatever it was stored as: a Qwen3ForCausalLM
 * checkpoint (already so), a {@code Qwen3Model} state dict (no {@code model.} prefix), or a llama.cpp GGUF
 * ({@code token_embd}, {@code blk.N.attn_q}, …; Qwen3 uses NeoX-style RoPE, so llama.cpp stores q and k
 * unpermuted and the mapping is a pure renaming). Derives the config of a file that comes without one.
 */
public final class Qwen3Checkpoint {

    private Qwen3Checkpoint() {
    }

    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.(.+)");
    private static final Map<String, String> BLOCK_PARTS = Map.ofEntries(
            Map.entry("attn_q.weight", "self_attn.q_proj.weight"),
            Map.entry("attn_k.weight", "self_attn.k_proj.weight"),
            Map.entry("attn_v.weight", "self_attn.v_proj.weight"),
            Map.entry("attn_output.weight", "self_attn.o_proj.weight"),
            Map.entry("attn_q_norm.weight", "self_attn.q_norm.weight"),
            Map.entry("attn_k_norm.weight", "self_attn.k_norm.weight"),
            Map.entry("attn_norm.weight", "input_layernorm.weight"),
            Map.entry("ffn_norm.weight", "post_attention_layernorm.weight"),
            Map.entry("ffn_gate.weight", "mlp.gate_proj.weight"),
            Map.entry("ffn_up.weight", "mlp.up_proj.weight"),
            Map.entry("ffn_down.weight", "mlp.down_proj.weight"));

    /** The source under {@code model.}-prefixed Hugging Face names (a view when it is stored otherwise). */
    public static TensorSource inHfNames(TensorSource source) throws ModelFileException {
        if (source.contains("token_embd.weight")) {
            return LlamaCppNames.of(source);
        }
        return PrefixedTensorSource.withModelPrefix(source);
    }

    /**
     * The config the tensor shapes imply (hidden size, layers, heads from the q/k projections over the
     * q-norm width, kv heads, MLP width, vocabulary), with RoPE θ and the norm ε from GGUF metadata where the
     * file has them ({@code qwen3.rope.freq_base}, {@code qwen3.attention.layer_norm_rms_epsilon}), else
     * Qwen3-4B's.
     */
    public static Qwen3Config deriveConfig(TensorSource hfNamed, Gguf metadata) throws ModelFileException {
        return deriveConfig(hfNamed.shapes(), hfNamed.description(), metadata);
    }

    /** As {@link #deriveConfig(TensorSource, Gguf)}, from {@code model.}-prefixed shapes. */
    public static Qwen3Config deriveConfig(Map<String, long[]> shapes, String source, Gguf metadata) throws ModelFileException {
        String p = Qwen3Config.PREFIX;
        long[] embed = shape(shapes, p + "embed_tokens.weight", 2, source);
        long[] qNorm = shape(shapes, p + "layers.0.self_attn.q_norm.weight", 1, source);
        long[] q = shape(shapes, p + "layers.0.self_attn.q_proj.weight", 2, source);
        long[] k = shape(shapes, p + "layers.0.self_attn.k_proj.weight", 2, source);
        long[] gate = shape(shapes, p + "layers.0.mlp.gate_proj.weight", 2, source);
        int layers = 0;
        while (shapes.containsKey(Qwen3Config.layerPrefix(layers) + "input_layernorm.weight")) {
            layers++;
        }
        int headDim = Math.toIntExact(qNorm[0]);
        Qwen3Config base = Qwen3Config.QWEN3_4B;
        double theta = base.ropeTheta();
        float eps = base.rmsNormEps();
        if (metadata != null) {
            String arch = metadata.metadataString("general.architecture");
            if (arch != null) {
                Gguf.Value t = metadata.metadata().get(arch + ".rope.freq_base");
                Gguf.Value e = metadata.metadata().get(arch + ".attention.layer_norm_rms_epsilon");
                theta = t != null && t.value() instanceof Number n ? n.doubleValue() : theta;
                eps = e != null && e.value() instanceof Number n ? n.floatValue() : eps;
            }
        }
        return new Qwen3Config(Math.toIntExact(embed[1]), layers, Math.toIntExact(q[0]) / headDim,
                Math.toIntExact(k[0]) / headDim, headDim, Math.toIntExact(gate[0]), eps, theta,
                Math.toIntExact(embed[0]), true);
    }

    private static long[] shape(Map<String, long[]> shapes, String name, int rank, String source) throws ModelFileException {
        return TensorView.shape(shapes, name, rank, source + ": cannot derive the text encoder config");
    }

    /** llama.cpp's tensor names seen as Hugging Face's. */
    static final class LlamaCppNames {

        private LlamaCppNames() {
        }

        static TensorView of(TensorSource source) throws ModelFileException {
            Map<String, StoredTensor> out = new TreeMap<>();
            Map<String, String> from = new TreeMap<>();
            for (String n : source.names()) {
                String mapped = hfName(n);
                TensorView.put(out, from, source, mapped != null ? mapped : n, n, source.find(n));
            }
            return new TensorView(source, source.description() + " (llama.cpp names)", out);
        }

        static String hfName(String n) {
            switch (n) {
                case "token_embd.weight":
                    return Qwen3Config.PREFIX + "embed_tokens.weight";
                case "output_norm.weight":
                    return Qwen3Config.PREFIX + "norm.weight";
                case "output.weight":
                    return "lm_head.weight";
                default:
                    break;
            }
            Matcher m = BLOCK.matcher(n);
            if (m.matches() && BLOCK_PARTS.containsKey(m.group(2))) {
                return Qwen3Config.layerPrefix(Integer.parseInt(m.group(1))) + BLOCK_PARTS.get(m.group(2));
            }
            return null;
        }
    }
}
