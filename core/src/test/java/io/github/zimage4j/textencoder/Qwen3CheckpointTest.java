package io.github.zimage4j.textencoder;

import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.GgufFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Qwen3 text encoders stored otherwise: llama.cpp-named GGUF files, and configs derived from shapes. */
class Qwen3CheckpointTest {

    @TempDir
    Path tmp;

    @Test
    void theRealManifestImpliesTheRealConfig() throws IOException {
        Qwen3Config real = Qwen3Config.read(Qwen3ConfigTest.realTextEncoder().resolve("config.json"));
        assertEquals(real, Qwen3Checkpoint.deriveConfig(Qwen3ConfigTest.manifestShapes(), "real manifest", null));
        assertEquals(Qwen3Config.QWEN3_4B, real);
    }

    /** The HF name of every golden tensor in llama.cpp's naming, as convert_hf_to_gguf.py writes Qwen3. */
    static String llamaCppName(String hf) {
        String n = hf.startsWith("model.") ? hf.substring(6) : hf;
        if (n.equals("embed_tokens.weight")) {
            return "token_embd.weight";
        }
        if (n.equals("norm.weight")) {
            return "output_norm.weight";
        }
        return n.replaceFirst("^layers\\.(\\d+)\\.", "blk.$1.")
                .replace("self_attn.q_proj", "attn_q").replace("self_attn.k_proj", "attn_k")
                .replace("self_attn.v_proj", "attn_v").replace("self_attn.o_proj", "attn_output")
                .replace("self_attn.q_norm", "attn_q_norm").replace("self_attn.k_norm", "attn_k_norm")
                .replace("input_layernorm", "attn_norm").replace("post_attention_layernorm", "ffn_norm")
                .replace("mlp.gate_proj", "ffn_gate").replace("mlp.up_proj", "ffn_up").replace("mlp.down_proj", "ffn_down");
    }

    @Test
    void aLlamaCppGgufEncodesAsTheSafetensorsFileWithItsConfigFromShapesAndMetadata() throws IOException {
        Path gguf = tmp.resolve("qwen3-tiny-f32.gguf");
        GgufFiles out = new GgufFiles().meta("general.architecture", "qwen3")
                .meta("qwen3.rope.freq_base", 1_000_000f).meta("qwen3.attention.layer_norm_rms_epsilon", 1e-6f);
        try (SafeTensors w = SafeTensors.open(TextEncoderLoadingTest.goldenWeights())) {
            for (String name : w.names()) {
                StoredTensor t = w.get(name);
                out.f32(llamaCppName(name), t.shape(), t.toFloats());
            }
        }
        out.write(gguf);
        try (Gguf g = Gguf.open(gguf)) {
            assertEquals(TextEncoderLoadingTest.goldenConfig(), Qwen3Checkpoint.deriveConfig(Qwen3Checkpoint.inHfNames(g), g));
        }
        List<Tensor> fromGguf;
        try (Qwen3TextEncoder enc = ModelFiles.openTextEncoder(gguf, TextEncoderGoldenTest.backend())) {
            assertEquals(TextEncoderLoadingTest.goldenConfig(), enc.config());
            fromGguf = enc.encode(TextEncoderLoadingTest.goldenPrompts());
        }
        TextEncoderLoadingTest.assertSameFeatures(
                TextEncoderLoadingTest.encode(TextEncoderLoadingTest.goldenWeights(), TextEncoderLoadingTest.goldenConfig()),
                fromGguf);
    }
}
