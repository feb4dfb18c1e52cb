package io.github.zimage4j.lora;

import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.JavaBackend;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The key formats and update kinds the golden cases do not cover (the reference cannot load them): each
 * file is written here, bound onto the golden LoRA base model, and its merged weights are compared with
 * {@code W + s·(alpha/r)·B·A} (or {@code s·alpha/dim·kron(w1, w2)}) computed independently in float64; the
 * runtime forward must equal the merged forward.
 */
class LoraFormatsTest {

    @TempDir
    Path tmp;

    private static final int DIM = 64;
    private static SafeTensors base;
    private static ZImageTransformerConfig cfg;
    private static List<ZImageTransformer.Input> inputs;

    @BeforeAll
    static void open() throws IOException {
        Path dir = Golden.root().resolve("lora/case-base");
        base = SafeTensors.open(dir.resolve("model.safetensors"));
        cfg = ZImageTransformerConfig.read(dir.resolve("config.json"));
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            inputs = List.of(new ZImageTransformer.Input(Golden.tensor(in, "x.0"), Golden.tensor(in, "cap_feats.0"),
                    Golden.tensor(in, "t").data()[0]));
        }
        assertEquals(DIM, cfg.dim(), "the tests below are written for the dim-64 LoRA base");
    }

    @AfterAll
    static void close() {
        base.close();
    }

    private static float[] random(Random rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) (rnd.nextGaussian() * 0.1);
        }
        return f;
    }

    /** {@code W + scale·B·A} in float64, for the weight {@code name} of the base, rows [row0, row0 + rows of B). */
    private static float[] expected(String name, float[] a, float[] b, int r, double scale, int row0) {
        StoredTensor w = base.find(name);
        int in = (int) w.dim(1);
        float[] out = w.toFloats();
        int outRows = b.length / r;
        for (int o = 0; o < outRows; o++) {
            for (int c = 0; c < in; c++) {
                double s = 0;
                for (int j = 0; j < r; j++) {
                    s += (double) b[o * r + j] * a[j * in + c];
                }
                out[(row0 + o) * in + c] = (float) (out[(row0 + o) * in + c] + scale * s);
            }
        }
        return out;
    }

    private Path write(String file, Map<String, float[]> tensors, Map<String, long[]> shapes, Map<String, String> meta)
            throws IOException {
        SafeTensorsWriter w = new SafeTensorsWriter();
        tensors.forEach((k, v) -> w.addF32(k, shapes.get(k), v));
        meta.forEach(w::metadata);
        Path p = tmp.resolve(file);
        w.write(p);
        return p;
    }

    private static List<Tensor> forward(TensorSource src) throws IOException {
        return new ZImageTransformer(src, cfg, JavaBackend.INSTANCE).forward(inputs);
    }

    private static LoraTensorSource bind(Path file, double strength, LoraMode mode) throws IOException {
        return LoraTensorSource.bind(base, List.of(new LoraTensorSource.Applied(LoraFile.read(file), strength)), mode, false);
    }

    /** Merged weights match the float64 formula, and runtime output equals merged output. */
    private static void checkBothModes(Path file, double strength, Map<String, float[]> expectedWeights) throws IOException {
        LoraTensorSource merged = bind(file, strength, LoraMode.MERGED);
        assertEquals(expectedWeights.keySet(), merged.touchedWeights());
        for (Map.Entry<String, float[]> e : expectedWeights.entrySet()) {
            Compare.allClose(e.getKey(), e.getValue(), merged.find(e.getKey()).toFloats(), 1e-6, 0);
        }
        LoraTensorSource runtime = bind(file, strength, LoraMode.RUNTIME);
        assertEquals(expectedWeights.keySet(), runtime.touchedWeights());
        float[] viaMerge = forward(merged).get(0).data();
        float[] viaRuntime = forward(runtime).get(0).data();
        float[] plain = forward(base).get(0).data();
        Compare.allClose("runtime vs merged output", viaMerge, viaRuntime, 1e-4, 1e-4);
        assertTrue(Compare.relativeError(plain, viaMerge) > 1e-3, "the LoRA changes the output");
    }

    @Test
    void everySpellingOfOneModuleGivesTheSameUpdate() throws IOException {
        Random rnd = new Random(1);
        int r = 4;
        float[] a = random(rnd, r * DIM);
        float[] b = random(rnd, DIM * r);
        double alpha = 2; // alpha/r = 0.5 folds exactly
        Map<String, float[]> want = Map.of("layers.1.attention.to_out.0.weight",
                expected("layers.1.attention.to_out.0.weight", a, b, r, 0.7 * alpha / r, 0));
        String[][] spellings = {
                {"lora_unet_layers_1_attention_to_out_0.lora_down.weight", "lora_unet_layers_1_attention_to_out_0.lora_up.weight",
                        "lora_unet_layers_1_attention_to_out_0.alpha"},
                {"diffusion_model.layers.1.attention.to.out.0.lora.down.weight", "diffusion_model.layers.1.attention.to.out.0.lora.up.weight",
                        "diffusion_model.layers.1.attention.to.out.0.alpha"},
                {"transformer.layers.1.attention.to_out.0.lora_A.default.weight", "transformer.layers.1.attention.to_out.0.lora_B.default.weight",
                        "transformer.layers.1.attention.to_out.0.alpha"},
                {"diffusion_model.layers.1.attention.out.lora_A.weight", "diffusion_model.layers.1.attention.out.lora_B.weight",
                        "diffusion_model.layers.1.attention.out.alpha"},
                {"layers.1.attention.to_out.0.lokr_unused", null, null}, // placeholder replaced below
        };
        for (String[] keys : spellings) {
            if (keys[1] == null) {
                continue;
            }
            Path f = write("spelling" + keys[0].length() + ".safetensors", Map.of(keys[0], a, keys[1], b, keys[2], new float[]{(float) alpha}),
                    Map.of(keys[0], new long[]{r, DIM}, keys[1], new long[]{DIM, r}, keys[2], new long[0]), Map.of());
            LoraFile lf = LoraFile.read(f);
            assertEquals(1, lf.modules().size(), keys[0]);
            assertEquals("layers.1.attention.to_out.0", lf.modules().get(0).target(), keys[0]);
            checkBothModes(f, 0.7, want);
        }
        // alpha from PEFT metadata (alpha_pattern beats lora_alpha) instead of a tensor
        Path meta = write("meta.safetensors", Map.of("transformer.layers.1.attention.to_out.0.lora_A.weight", a,
                        "transformer.layers.1.attention.to_out.0.lora_B.weight", b),
                Map.of("transformer.layers.1.attention.to_out.0.lora_A.weight", new long[]{r, DIM},
                        "transformer.layers.1.attention.to_out.0.lora_B.weight", new long[]{DIM, r}),
                Map.of("lora_adapter_metadata", "{\"transformer.r\": 4, \"transformer.lora_alpha\": 8.0,"
                        + " \"transformer.alpha_pattern\": {\"to_out.0\": 2.0}}"));
        checkBothModes(meta, 0.7, want);
    }

    @Test
    void fusedQkvAndW13UpdatesSplitByRows() throws IOException {
        Random rnd = new Random(2);
        int r = 3;
        int hidden = (int) base.find("layers.0.feed_forward.w1.weight").dim(0);
        float[] a = random(rnd, r * DIM);
        float[] b = random(rnd, 3 * DIM * r);
        float[] a13 = random(rnd, r * DIM);
        float[] b13 = random(rnd, 2 * hidden * r);
        Path f = write("fused.safetensors",
                Map.of("diffusion_model.layers.0.attention.qkv.lora_A.weight", a, "diffusion_model.layers.0.attention.qkv.lora_B.weight", b,
                        "diffusion_model.layers.0.feed_forward.w13.lora_A.weight", a13, "diffusion_model.layers.0.feed_forward.w13.lora_B.weight", b13),
                Map.of("diffusion_model.layers.0.attention.qkv.lora_A.weight", new long[]{r, DIM},
                        "diffusion_model.layers.0.attention.qkv.lora_B.weight", new long[]{3 * DIM, r},
                        "diffusion_model.layers.0.feed_forward.w13.lora_A.weight", new long[]{r, DIM},
                        "diffusion_model.layers.0.feed_forward.w13.lora_B.weight", new long[]{2L * hidden, r}), Map.of());
        Map<String, float[]> want = new HashMap<>();
        String[] qkv = {"to_q", "to_k", "to_v"};
        for (int i = 0; i < 3; i++) {
            float[] slice = java.util.Arrays.copyOfRange(b, i * DIM * r, (i + 1) * DIM * r);
            String name = "layers.0.attention." + qkv[i] + ".weight";
            want.put(name, expected(name, a, slice, r, 1.3, 0));
        }
        want.put("layers.0.feed_forward.w1.weight", expected("layers.0.feed_forward.w1.weight", a13,
                java.util.Arrays.copyOfRange(b13, 0, hidden * r), r, 1.3, 0));
        want.put("layers.0.feed_forward.w3.weight", expected("layers.0.feed_forward.w3.weight", a13,
                java.util.Arrays.copyOfRange(b13, hidden * r, 2 * hidden * r), r, 1.3, 0));
        checkBothModes(f, 1.3, want);
    }

    @Test
    void fusedEntriesBesideTheSeparateOnesAreSkippedAsDuplicates() throws IOException {
        Random rnd = new Random(3);
        float[] a = random(rnd, 2 * DIM);
        float[] b = random(rnd, DIM * 2);
        float[] aq = random(rnd, 6 * DIM);
        float[] bq = random(rnd, 3 * DIM * 6);
        Map<String, float[]> t = new HashMap<>();
        Map<String, long[]> s = new HashMap<>();
        for (String m : List.of("to_q", "to_out_0", "out")) {
            t.put("lora_unet_layers_0_attention_" + m + ".lora_down.weight", a);
            t.put("lora_unet_layers_0_attention_" + m + ".lora_up.weight", b);
            s.put("lora_unet_layers_0_attention_" + m + ".lora_down.weight", new long[]{2, DIM});
            s.put("lora_unet_layers_0_attention_" + m + ".lora_up.weight", new long[]{DIM, 2});
        }
        t.put("lora_unet_layers_0_attention_qkv.lora_down.weight", aq);
        t.put("lora_unet_layers_0_attention_qkv.lora_up.weight", bq);
        s.put("lora_unet_layers_0_attention_qkv.lora_down.weight", new long[]{6, DIM});
        s.put("lora_unet_layers_0_attention_qkv.lora_up.weight", new long[]{3 * DIM, 6});
        LoraFile f = LoraFile.read(write("dups.safetensors", t, s, Map.of()));
        assertEquals(4, f.skippedDuplicates().size(), f.skippedDuplicates().toString());
        assertEquals(Set.of("layers.0.attention.to_q", "layers.0.attention.to_out.0"),
                Set.copyOf(f.modules().stream().map(LoraFile.Module::target).toList()));
        LoraTensorSource bound = LoraTensorSource.bind(base, List.of(new LoraTensorSource.Applied(f, 1)), LoraMode.RUNTIME, false);
        assertEquals(4, bound.report().skippedDuplicates());
        assertEquals(4, bound.report().appliedTensors());
    }

    @Test
    void lokrFollowsLycorisScaling() throws IOException {
        Random rnd = new Random(4);
        // ΔW [64, 64] = kron(w1 [4, 8], w2 [16, 8]) with w2 = w2_a [16, 2] · w2_b [2, 8]: dim 2, alpha 1 → scale 0.5.
        float[] w1 = random(rnd, 4 * 8);
        float[] w2a = random(rnd, 16 * 2);
        float[] w2b = random(rnd, 2 * 8);
        for (float[] big : List.of(w1, w2a, w2b)) { // LoKr factors are O(1); 0.1-sized ones would barely move the output
            for (int i = 0; i < big.length; i++) {
                big[i] *= 10;
            }
        }
        String m = "lycoris_layers_1_attention_to_v";
        String target = "layers.1.attention.to_v.weight";
        int hidden = DIM;
        int d = 8;
        Path f = write("lokr.safetensors",
                Map.of(m + ".lokr_w1", w1, m + ".lokr_w2_a", w2a, m + ".lokr_w2_b", w2b, m + ".alpha", new float[]{1}),
                Map.of(m + ".lokr_w1", new long[]{4, 8}, m + ".lokr_w2_a", new long[]{16, 2}, m + ".lokr_w2_b", new long[]{2, d},
                        m + ".alpha", new long[0]), Map.of());
        float[] w = base.find(target).toFloats();
        double strength = 0.8, scale = strength * 1.0 / 2;
        for (int o = 0; o < DIM; o++) {
            for (int c = 0; c < hidden; c++) {
                int i = o / 16, k = o % 16, j = c / d, l = c % d;
                double w2 = 0;
                for (int q = 0; q < 2; q++) {
                    w2 += (double) w2a[k * 2 + q] * w2b[q * d + l];
                }
                w[o * hidden + c] = (float) (w[o * hidden + c] + scale * w1[i * 8 + j] * w2);
            }
        }
        checkBothModes(f, strength, Map.of(target, w));
    }

    @Test
    void unplacedKeysAreListedUnlessIgnored() throws IOException {
        Random rnd = new Random(5);
        float[] a = random(rnd, 2 * DIM);
        float[] b = random(rnd, DIM * 2);
        Path f = write("unplaced.safetensors",
                Map.of("lora_unet_layers_0_attention_to_q.lora_down.weight", a, "lora_unet_layers_0_attention_to_q.lora_up.weight", b,
                        "lora_unet_layers_7_attention_to_q.lora_down.weight", a, "lora_unet_layers_7_attention_to_q.lora_up.weight", b,
                        "lora_te_text_model_layers_0_mlp.weird", a),
                Map.of("lora_unet_layers_0_attention_to_q.lora_down.weight", new long[]{2, DIM},
                        "lora_unet_layers_0_attention_to_q.lora_up.weight", new long[]{DIM, 2},
                        "lora_unet_layers_7_attention_to_q.lora_down.weight", new long[]{2, DIM},
                        "lora_unet_layers_7_attention_to_q.lora_up.weight", new long[]{DIM, 2},
                        "lora_te_text_model_layers_0_mlp.weird", new long[]{2, DIM}), Map.of());
        LoraFile lf = LoraFile.read(f);
        LoraException e = assertThrows(LoraException.class, () ->
                LoraTensorSource.bind(base, List.of(new LoraTensorSource.Applied(lf, 1)), LoraMode.RUNTIME, false));
        assertTrue(e.getMessage().contains("3 LoRA keys fit no weight"), e.getMessage());
        assertTrue(e.getMessage().contains("lora_unet_layers_7_attention_to_q.lora_down.weight"), e.getMessage());
        assertTrue(e.getMessage().contains("lora_te_text_model_layers_0_mlp.weird"), e.getMessage());
        LoraTensorSource ok = LoraTensorSource.bind(base, List.of(new LoraTensorSource.Applied(lf, 1)), LoraMode.RUNTIME, true);
        assertEquals(3, ok.report().unplacedKeys().size());
        assertEquals(2, ok.report().appliedTensors());
        assertEquals(Set.of("layers.0.attention.to_q.weight"), ok.touchedWeights());
    }

    @Test
    void doraAndLohaAreRefusedNotDropped() throws IOException {
        float[] a = new float[2 * DIM];
        for (String extra : List.of("dora_scale", "hada_w1_a")) {
            Path f = write(extra + ".safetensors",
                    Map.of("layers.0.attention.to_q.lora_down.weight", a, "layers.0.attention.to_q.lora_up.weight", a,
                            "layers.0.attention.to_q." + extra, new float[DIM]),
                    Map.of("layers.0.attention.to_q.lora_down.weight", new long[]{2, DIM},
                            "layers.0.attention.to_q.lora_up.weight", new long[]{DIM, 2},
                            "layers.0.attention.to_q." + extra, new long[]{1, DIM}), Map.of());
            LoraException e = assertThrows(LoraException.class, () -> LoraFile.read(f));
            assertTrue(e.getMessage().contains(extra.startsWith("dora") ? "DoRA" : "LoHa"), e.getMessage());
        }
    }

    @Test
    void mergedModeRefusesQuantizedWeightsRuntimeTakesThem() throws IOException {
        // The base with to_q stored as fp8: a stand-in for any weight a merge cannot write back.
        String q = "layers.0.attention.to_q.weight";
        StoredTensor fp8 = new StoredTensor(q, "fp8-model", DType.F8_E4M3, new long[]{DIM, DIM},
                MemorySegment.ofArray(new byte[DIM * DIM]));
        TensorSource quantized = new TensorSource() {
            public String description() {
                return "fp8-model";
            }

            public Set<String> names() {
                return base.names();
            }

            public StoredTensor find(String name) {
                return name.equals(q) ? fp8 : base.find(name);
            }

            public void close() {
            }
        };
        Random rnd = new Random(6);
        Path f = write("q.safetensors",
                Map.of("lora_unet_layers_0_attention_to_q.lora_down.weight", random(rnd, 2 * DIM),
                        "lora_unet_layers_0_attention_to_q.lora_up.weight", random(rnd, 2 * DIM)),
                Map.of("lora_unet_layers_0_attention_to_q.lora_down.weight", new long[]{2, DIM},
                        "lora_unet_layers_0_attention_to_q.lora_up.weight", new long[]{DIM, 2}), Map.of());
        List<LoraTensorSource.Applied> l = List.of(new LoraTensorSource.Applied(LoraFile.read(f), 1));
        LoraException e = assertThrows(LoraException.class, () -> LoraTensorSource.bind(quantized, l, LoraMode.MERGED, false));
        assertTrue(e.getMessage().contains("F8_E4M3") && e.getMessage().contains("runtime"), e.getMessage());
        LoraTensorSource runtime = LoraTensorSource.bind(quantized, l, LoraMode.RUNTIME, false);
        assertEquals(1, runtime.adapters(q).size());
        assertEquals(DType.F8_E4M3, runtime.find(q).dtype(), "runtime mode never rewrites the weight");
    }

    @Test
    void kohyaNamesUnflattenAsTheReferenceDoes() {
        Map<String, String> cases = Map.of(
                "layers_12_attention_to_out_0", "layers.12.attention.to_out.0",
                "noise_refiner_0_adaLN_modulation_0", "noise_refiner.0.adaLN_modulation.0",
                "all_x_embedder_2-1", "all_x_embedder.2-1",
                "all_final_layer_2-1_adaLN_modulation_1", "all_final_layer.2-1.adaLN_modulation.1",
                "t_embedder_mlp_0", "t_embedder.mlp.0",
                "cap_embedder_1", "cap_embedder.1",
                "context_refiner_1_feed_forward_w3", "context_refiner.1.feed_forward.w3",
                "layers.3.attention.to.q", "layers.3.attention.to_q",
                "final_layer_adaLN_modulation_1", "all_final_layer.2-1.adaLN_modulation.1",
                "x_embedder", "all_x_embedder.2-1");
        cases.forEach((in, out) -> assertEquals(out, LoraKeys.unflatten(in), in));
    }

    @Test
    void specsParseStrengths() {
        assertEquals(new LoraSpec(Path.of("a/b.safetensors"), 0.65), LoraSpec.parse("a/b.safetensors:0.65"));
        assertEquals(new LoraSpec(Path.of("b.safetensors"), 1.0), LoraSpec.parse("b.safetensors"));
        assertEquals(new LoraSpec(Path.of("b.safetensors"), -0.4), LoraSpec.parse("b.safetensors:-0.4"));
        assertThrows(IllegalArgumentException.class, () -> LoraSpec.parse("b.safetensors:1.2.3"));
    }
}
