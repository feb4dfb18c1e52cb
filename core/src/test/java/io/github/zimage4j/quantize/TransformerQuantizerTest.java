package io.github.zimage4j.quantize;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.ModelFileException;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code quantize} output: the tensor names stable-diffusion.cpp's Z-Image model declares, ComfyUI-GGUF's
 * architecture key, the F32 rules, and a round trip through our GGUF reader (bytes equal to the reference
 * quantizers on the source rows, fused qkv rows in q, k, v order).
 */
class TransformerQuantizerTest {

    /**
     * The parameters of stable-diffusion.cpp's ZImageModel (src/model/diffusion/z_image.hpp at 97d29908):
     * top level, then per block (JointTransformerBlock; the context refiner has no adaLN_modulation).
     */
    static final List<String> SDCPP_TOP = List.of(
            "x_embedder.weight", "x_embedder.bias",
            "t_embedder.mlp.0.weight", "t_embedder.mlp.0.bias", "t_embedder.mlp.2.weight", "t_embedder.mlp.2.bias",
            "cap_embedder.0.weight", "cap_embedder.1.weight", "cap_embedder.1.bias",
            "x_pad_token", "cap_pad_token",
            "final_layer.linear.weight", "final_layer.linear.bias",
            "final_layer.adaLN_modulation.1.weight", "final_layer.adaLN_modulation.1.bias");
    static final List<String> SDCPP_BLOCK = List.of(
            "attention.qkv.weight", "attention.out.weight", "attention.q_norm.weight", "attention.k_norm.weight",
            "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight",
            "attention_norm1.weight", "ffn_norm1.weight", "attention_norm2.weight", "ffn_norm2.weight");
    static final List<String> SDCPP_MODULATION = List.of("adaLN_modulation.0.weight", "adaLN_modulation.0.bias");

    static Set<String> sdcppNames(int layers, int refiners) {
        Set<String> names = new TreeSet<>(SDCPP_TOP);
        for (String stack : List.of("layers", "noise_refiner", "context_refiner")) {
            for (int i = 0; i < (stack.equals("layers") ? layers : refiners); i++) {
                for (String s : SDCPP_BLOCK) {
                    names.add(stack + "." + i + "." + s);
                }
                if (!stack.equals("context_refiner")) {
                    for (String s : SDCPP_MODULATION) {
                        names.add(stack + "." + i + "." + s);
                    }
                }
            }
        }
        return names;
    }

    @TempDir
    Path tmp;

    static Path tinyTransformer() {
        return Golden.fixture("pipeline/case-components/transformer/model.safetensors");
    }

    @Test
    void realCheckpointNamesMapOntoStableDiffusionCppNames() {
        Object parsed = readJson(Golden.fixture("manifests/case-zimage-real/transformer/manifest.json"));
        Set<String> mapped = new TreeSet<>();
        for (Object t : (List<?>) ((Map<?, ?>) parsed).get("tensors")) {
            String name = (String) ((Map<?, ?>) t).get("name");
            String o = TransformerQuantizer.originalName(name);
            assertTrue(o != null, name + " has an original-layout name");
            mapped.add(o);
        }
        assertEquals(sdcppNames(30, 2), mapped);
    }

    /**
     * {@code quantize --type int8}: the same names and types as Q8_0, every Q8_0 row's blocks sharing one scale
     * (the row's largest magnitude / 127, so some quant is ±127), each value within half a step of the source.
     */
    @Test
    void int8QuantizesRowsWithOneScaleEach() throws IOException {
        Path out = tmp.resolve("tiny-int8.gguf");
        try (SafeTensors src = SafeTensors.open(tinyTransformer())) {
            TransformerQuantizer.quantizeInt8(src, out, (i, n, name, done, total) -> { });
            try (Gguf g = Gguf.open(out)) {
                assertEquals(sdcppNames(2, 1), new TreeSet<>(g.names()));
                assertEquals("per row", g.metadataString("zimage4j.q8_0_scales"));
                int rows = 0;
                for (String name : g.names()) {
                    StoredTensor q = g.get(name);
                    float[] source = sourceRows(src, name);
                    if (q.dtype() != DType.Q8_0) {
                        assertEquals(DType.F32, q.dtype(), name);
                        assertArrayEquals(source, q.toFloats(), name + " kept exactly");
                        continue;
                    }
                    int cols = (int) q.dim(1);
                    float[] got = q.toFloats();
                    for (int r = 0; r < q.dim(0); r++, rows++) {
                        float amax = 0;
                        for (int i = 0; i < cols; i++) {
                            amax = Math.max(amax, Math.abs(source[r * cols + i]));
                        }
                        long rowStart = (long) r * (cols / 32) * 34;
                        short d = q.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, rowStart);
                        assertEquals(Float.floatToFloat16(amax / 127), d, name + " row " + r + " scale");
                        boolean full = false;
                        for (int b = 0; b < cols / 32; b++) {
                            assertEquals(d, q.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, rowStart + 34L * b), name + " row " + r + " block " + b);
                            for (int j = 0; j < 32; j++) {
                                full |= Math.abs(q.data().get(ValueLayout.JAVA_BYTE, rowStart + 34L * b + 2 + j)) == 127;
                            }
                        }
                        assertTrue(full, name + " row " + r + " reaches ±127");
                        float step = Float.float16ToFloat(d);
                        for (int i = 0; i < cols; i++) {
                            float err = Math.abs(got[r * cols + i] - source[r * cols + i]);
                            assertTrue(err <= 0.5f * step * (1 + 1e-5f), name + " [" + r + ", " + i + "] off by " + err + ", step " + step);
                        }
                    }
                }
                assertTrue(rows > 0, "some rows are Q8_0");
            }
        }
    }

    @Test
    void diffusersCheckpointQuantizesToSdCppNamesAndRoundTrips() throws IOException {
        Path out = tmp.resolve("tiny-q8_0.gguf");
        try (SafeTensors src = SafeTensors.open(tinyTransformer())) {
            TransformerQuantizer.quantize(src, DType.Q8_0, out, (i, n, name, done, total) -> { });
            try (Gguf g = Gguf.open(out)) {
                assertEquals(sdcppNames(2, 1), new TreeSet<>(g.names()));
                assertEquals("lumina2", g.metadataString("general.architecture"));
                assertEquals(7L, ((Number) g.metadata().get("general.file_type").value()).longValue());
                // F32 where the community files keep it; Q8_0 where rows are whole blocks; the stored precision otherwise.
                assertEquals(DType.F32, g.get("layers.0.attention_norm1.weight").dtype());
                assertEquals(DType.F32, g.get("x_pad_token").dtype());
                assertEquals(DType.F32, g.get("x_embedder.weight").dtype());
                assertEquals(DType.F32, g.get("final_layer.linear.weight").dtype());
                assertEquals(DType.F32, g.get("layers.0.feed_forward.w2.weight").dtype(), "170-wide rows are no whole Q8_0 blocks");
                assertEquals(DType.Q8_0, g.get("layers.0.feed_forward.w1.weight").dtype());
                assertEquals(DType.Q8_0, g.get("layers.0.attention.qkv.weight").dtype());

                for (String name : g.names()) {
                    StoredTensor q = g.get(name);
                    float[] source = sourceRows(src, name);
                    assertEquals(source.length, q.numel(), name);
                    if (q.dtype() == DType.F32) {
                        assertArrayEquals(source, q.toFloats(), name + " kept exactly");
                    } else {
                        byte[] expected = new byte[(int) q.dtype().byteSize(source.length)];
                        GgmlQuantizer.quantize(q.dtype(), source, 0, source.length, expected, 0);
                        assertArrayEquals(expected, q.data().toArray(ValueLayout.JAVA_BYTE), name + " bytes");
                    }
                }
                assertArrayEquals(new long[]{192, 64}, g.get("layers.1.attention.qkv.weight").shape());
            }
        }
    }

    @Test
    void comfySingleFileKeepsItsNamesAndDropsNormFinal() throws IOException {
        Path single = Golden.fixture("single_file/case-transformer-comfy/z_image_tiny.safetensors");
        Path out = tmp.resolve("comfy-q4_0.gguf");
        try (SafeTensors src = SafeTensors.open(single)) {
            assertTrue(src.names().contains("norm_final.weight"));
            TransformerQuantizer.quantize(src, DType.Q4_0, out, (i, n, name, done, total) -> { });
        }
        try (Gguf g = Gguf.open(out)) {
            assertEquals(sdcppNames(2, 1), new TreeSet<>(g.names()));
            assertEquals(DType.Q4_0, g.get("layers.0.attention.qkv.weight").dtype());
        }
    }

    @Test
    void prefixedComfyFileAndItsDiffusersSplitGiveTheSameBytes() throws IOException {
        Path single = Golden.fixture("single_file/case-transformer-comfy-prefixed-bf16/z_image_tiny_bf16.safetensors");
        Path diffusers = tmp.resolve("diffusers.safetensors");
        try (SafeTensors src = SafeTensors.open(single)) {
            // The diffusers layout written independently of the quantizer: prefix off, qkv rows split, names as diffusers has them.
            io.github.zimage4j.io.SafeTensorsWriter w = new io.github.zimage4j.io.SafeTensorsWriter();
            for (String n : src.names()) {
                StoredTensor t = src.get(n);
                String d = n.substring("model.diffusion_model.".length());
                if (d.equals("norm_final.weight")) {
                    continue;
                }
                if (d.endsWith(".attention.qkv.weight")) {
                    long rows = t.shape()[0] / 3;
                    String base = d.substring(0, d.length() - "qkv.weight".length());
                    String[] parts = {"to_q", "to_k", "to_v"};
                    for (int p = 0; p < 3; p++) {
                        StoredTensor part = t.rows(p * rows, rows);
                        w.add(base + parts[p] + ".weight", part.dtype(), part.shape(), part.data());
                    }
                    continue;
                }
                d = d.replace("x_embedder.", "all_x_embedder.2-1.").replace("final_layer.", "all_final_layer.2-1.")
                        .replace(".attention.out.", ".attention.to_out.0.").replace(".q_norm.", ".norm_q.").replace(".k_norm.", ".norm_k.");
                w.add(d, t.dtype(), t.shape(), t.data());
            }
            w.write(diffusers);
            TransformerQuantizer.quantize(src, DType.Q8_0, tmp.resolve("from-comfy.gguf"), (i, n, name, done, total) -> { });
        }
        try (SafeTensors src = SafeTensors.open(diffusers)) {
            TransformerQuantizer.quantize(src, DType.Q8_0, tmp.resolve("from-diffusers.gguf"), (i, n, name, done, total) -> { });
        }
        assertArrayEquals(Files.readAllBytes(tmp.resolve("from-comfy.gguf")), Files.readAllBytes(tmp.resolve("from-diffusers.gguf")));
        try (Gguf g = Gguf.open(tmp.resolve("from-comfy.gguf"))) {
            assertEquals(DType.BF16, g.get("layers.0.feed_forward.w2.weight").dtype(), "bf16 rows that are no whole blocks stay bf16");
        }
    }

    @Test
    void kQuantsKeepRowsThatAreNotWholeSuperBlocks() {
        assertEquals(DType.BF16, TransformerQuantizer.typeFor("layers.0.feed_forward.w1.weight", new long[]{170, 64}, DType.Q4_K, DType.BF16));
        assertEquals(DType.Q4_K, TransformerQuantizer.typeFor("layers.0.feed_forward.w1.weight", new long[]{10240, 3840}, DType.Q4_K, DType.BF16));
        assertEquals(DType.Q6_K, TransformerQuantizer.typeFor("cap_embedder.1.weight", new long[]{3840, 2560}, DType.Q6_K, DType.BF16));
        assertEquals(DType.F32, TransformerQuantizer.typeFor("cap_pad_token", new long[]{1, 3840}, DType.Q6_K, DType.BF16));
        assertEquals(DType.F32, TransformerQuantizer.typeFor("t_embedder.mlp.0.weight", new long[]{1024, 256}, DType.Q8_0, DType.BF16));
    }

    @Test
    void aNonTransformerIsRefusedNamingWhatItCannotPlace() throws IOException {
        Path vae = Golden.fixture("pipeline/case-components/vae/model.safetensors");
        try (SafeTensors src = SafeTensors.open(vae)) {
            ModelFileException e = assertThrows(ModelFileException.class, () -> TransformerQuantizer.plan(src, DType.Q8_0));
            assertTrue(e.getMessage().contains("not a Z-Image transformer"), e.getMessage());
        }
        assertFalse(Files.exists(tmp.resolve("x.gguf")));
    }

    /** The source values of an output tensor: the diffusers tensor(s) it comes from, q/k/v rows stacked. */
    private static float[] sourceRows(SafeTensors src, String name) {
        List<String> from = new ArrayList<>();
        if (name.endsWith(".attention.qkv.weight")) {
            String base = name.substring(0, name.length() - "qkv.weight".length());
            from.addAll(List.of(base + "to_q.weight", base + "to_k.weight", base + "to_v.weight"));
        } else {
            from.add(name.replace("x_embedder.", "all_x_embedder.2-1.").replace("final_layer.", "all_final_layer.2-1.")
                    .replace(".attention.out.", ".attention.to_out.0.").replace(".q_norm.", ".norm_q.").replace(".k_norm.", ".norm_k."));
        }
        List<float[]> parts = new ArrayList<>();
        int n = 0;
        for (String f : from) {
            float[] p = src.find(f).toFloats();
            parts.add(p);
            n += p.length;
        }
        float[] all = new float[n];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, o, p.length);
            o += p.length;
        }
        return all;
    }

    private static Object readJson(Path p) {
        try {
            return Json.parse(Files.readString(p));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
