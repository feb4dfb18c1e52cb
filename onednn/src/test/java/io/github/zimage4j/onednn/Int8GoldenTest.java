package io.github.zimage4j.onednn;

import io.github.zimage4j.dit.ZImageTransformer;
import io.github.zimage4j.dit.ZImageTransformerConfig;
import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.kernels.WeightPreparation;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.Denoiser;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.ZImagePipeline;
import io.github.zimage4j.quantize.GgufWriter;
import io.github.zimage4j.quantize.TransformerQuantizer;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.GoldenRequests;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The 8-bit path end to end: each golden case's float32 transformer written by the project's quantizer in
 * both 8-bit forms, {@code quantize --type q8_0} (ggml's Q8_0, a scale per 32 values, re-quantized per row
 * at load) and {@code quantize --type int8} (Q8_0 blocks sharing their row's scale, read without loss),
 * its 8-bit weights converted and multiplied on the int8 units, held to the 2e-2 relative RMS error of
 * issue #15 twice: against the case's reference outputs (diffusers, float32, unquantized weights) for the
 * transformer output of every golden transformer case and of every pipeline case's first step (the
 * reference's own inputs; later steps start from latents the 8-bit run has already moved), and against the
 * same case generated from the bf16 file {@code quantize --type bf16} writes, for the transformer output on
 * the same inputs (every transformer case, every pipeline case's first step). The final latents of every
 * pipeline case are held to the same bound against the same 8-bit file on the bf16 path: what the int8
 * products change. Later steps' outputs (their inputs already apart), the final latents against the bf16
 * file and the part of that the 8-bit file's weights make on their own (the file on the bf16 path against
 * the bf16 file) go to the test output for the report (see docs/performance.md, "8-bit accuracy").
 */
class Int8GoldenTest {

    /** The accuracy the 8-bit path is held to (issue #15). */
    private static final double BOUND = 2e-2;

    /** The two 8-bit files {@code zimage4j quantize} writes. */
    private enum Form {
        Q8_0, INT8, BF16;

        String tag() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    @TempDir
    static Path tmp;

    @TestFactory
    Stream<DynamicTest> transformerOutput() {
        return Golden.cases("transformer").stream().flatMap(dir -> Stream.of(Form.Q8_0, Form.INT8).map(form ->
                DynamicTest.dynamicTest(dir.getFileName() + " " + form.tag(), () -> {
                    Path bf16File = quantize(dir.resolve("model.safetensors"), dir.getFileName().toString(), Form.BF16);
                    Path gguf = quantize(dir.resolve("model.safetensors"), dir.getFileName().toString(), form);
                    ZImageTransformerConfig cfg = ZImageTransformerConfig.read(dir.resolve("config.json"));
                    try (TensorSource weights = Checkpoints.open(gguf);
                         TensorSource bf16Weights = Checkpoints.open(bf16File);
                         SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
                         SafeTensors expected = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
                        List<ZImageTransformer.Input> inputs = inputs(in);
                        ZImageTransformer int8 = new ZImageTransformer(weights, cfg, new OneDnnBackend(Dnnl.get()));
                        WeightPreparation c = int8.prepareWeights();
                        assertTrue(c.prepared(), "the 8-bit file has weights to convert");
                        // The precision-sensitive layers' 8-bit weights stay as stored: those of the file's
                        // adaLN modulations, embedders and final layer (what quantize wrote 8-bit among them).
                        long sensitive = weights.names().stream()
                                .filter(n -> n.contains("adaLN_modulation") || n.startsWith("t_embedder.") || n.startsWith("x_embedder.")
                                        || n.startsWith("cap_embedder.") || n.startsWith("final_layer."))
                                .filter(n -> weights.find(n).dtype() == DType.Q8_0).count();
                        assertTrue(sensitive >= cfg.nLayers() + cfg.nRefinerLayers(), "the adaLN weights are 8-bit in this file: " + sensitive);
                        assertEquals(sensitive, c.kept(), "sensitive weights left as stored: " + c);
                        List<Tensor> got = int8.forward(inputs);
                        List<Tensor> bf16 = new ZImageTransformer(weights, cfg, new OneDnnBackend(Dnnl.get())).forward(inputs);
                        List<Tensor> fromBf16File = new ZImageTransformer(bf16Weights, cfg, new OneDnnBackend(Dnnl.get())).forward(inputs);
                        for (int i = 0; i < inputs.size(); i++) {
                            String what = dir.getFileName() + " " + form.tag() + " out." + i;
                            float[] want = Golden.tensor(expected, "out." + i).data();
                            assertWithin(what, got.get(i).data(), want, bf16.get(i).data());
                            assertNearBf16File(what, got.get(i).data(), fromBf16File.get(i).data());
                        }
                    }
                })));
    }

    @TestFactory
    Stream<DynamicTest> pipeline() {
        List<Path> cases = Golden.cases("pipeline").stream().filter(d -> Files.isRegularFile(d.resolve("inputs.safetensors"))).toList();
        return Golden.atLeastOne(cases, "pipeline case with inputs.safetensors").stream().flatMap(dir -> Stream.of(Form.Q8_0, Form.INT8).map(form ->
                DynamicTest.dynamicTest(dir.getFileName() + " " + form.tag(), () -> {
                    Run int8 = generate(dir, form, true);
                    Run bf16 = generate(dir, form, false);
                    Run bf16File = fromBf16File(dir);
                    assertTrue(int8.precision.contains("int8 products"), int8.precision);
                    assertFalse(bf16.precision.contains("int8"), bf16.precision);
                    assertEquals(int8.steps.size(), bf16File.steps.size(), "steps");
                    String name = dir.getFileName() + " " + form.tag();
                    try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
                        for (int i = 0; i < int8.steps.size(); i++) {
                            for (int j = 0; j < int8.steps.get(i).size(); j++) {
                                String key = "step." + i + ".transformer_out." + j;
                                float[] want = Golden.tensor(out, key).data();
                                float[] got = int8.steps.get(i).get(j).data();
                                float[] fromBf16File = bf16File.steps.get(i).get(j).data();
                                if (i == 0) {
                                    assertWithin(name + " " + key, got, want, bf16.steps.get(i).get(j).data());
                                    assertNearBf16File(name + " " + key, got, fromBf16File);
                                } else {
                                    report(name + " " + key, got, want, bf16.steps.get(i).get(j).data());
                                    System.out.printf("int8 golden: %s %s: relative RMS int8 vs bf16 file %.2e (inputs already apart)%n",
                                            name, key, Compare.relativeRms(got, fromBf16File));
                                }
                            }
                        }
                        report(name + " latents_final", int8.latents, Golden.tensor(out, "latents_final").data(), bf16.latents);
                        double int8VsPath = Compare.relativeRms(int8.latents, bf16.latents);
                        assertTrue(int8VsPath <= BOUND, name + " latents_final: int8 vs the same file on the bf16 path, relative RMS " + int8VsPath);
                        // Not asserted: the 8-bit file's weights alone (the bf16 path) already take 1.7-1.8e-2 of the
                        // 2e-2 in the base case, six steps at guidance 4 (docs/performance.md, "8-bit accuracy").
                        System.out.printf("int8 golden: %s latents_final: relative RMS int8 vs bf16 file %.2e; the 8-bit file on the bf16 path vs bf16 file %.2e%n",
                                name, Compare.relativeRms(int8.latents, bf16File.latents), Compare.relativeRms(bf16.latents, bf16File.latents));
                    }
                })));
    }

    private static void assertWithin(String what, float[] got, float[] reference, float[] bf16) {
        double vsReference = report(what, got, reference, bf16);
        assertTrue(vsReference <= BOUND, what + ": int8 vs the reference, relative RMS " + vsReference);
    }

    /** The 8-bit run against the same inputs from the bf16 file: the difference a user sees choosing the 8-bit file. */
    private static void assertNearBf16File(String what, float[] got, float[] fromBf16File) {
        double rms = Compare.relativeRms(got, fromBf16File);
        System.out.printf("int8 golden: %s: relative RMS int8 vs bf16 file %.2e%n", what, rms);
        assertTrue(rms <= BOUND, what + ": int8 vs the bf16 file, relative RMS " + rms);
    }

    /** Prints the errors (for the report); returns int8's vs the reference. */
    private static double report(String what, float[] got, float[] reference, float[] bf16) {
        double vsReference = Compare.relativeRms(got, reference);
        System.out.printf("int8 golden: %s: relative RMS vs reference: int8 %.2e, bf16 path %.2e; int8 vs bf16 path %.2e%n",
                what, vsReference, Compare.relativeRms(bf16, reference), Compare.relativeRms(got, bf16));
        return vsReference;
    }

    private record Run(List<List<Tensor>> steps, float[] latents, String precision) {
    }

    private static final Map<Path, Run> FROM_BF16_FILE = new java.util.concurrent.ConcurrentHashMap<>();

    /** The case generated from its bf16 file, once for both 8-bit forms. */
    private static Run fromBf16File(Path dir) throws IOException {
        Run r = FROM_BF16_FILE.get(dir);
        if (r == null) {
            r = generate(dir, Form.BF16, false);
            FROM_BF16_FILE.put(dir, r);
        }
        return r;
    }

    /** The case through the pipeline with {@code form}'s file, its 8-bit weights on the int8 units or ({@code -Dzimage.int8=off}) not. */
    private static Run generate(Path dir, Form form, boolean int8) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Path sched = tmp.resolve(dir.getFileName() + "-scheduler_config.json");
        Files.writeString(sched, Json.write(meta.get("scheduler_config")));
        Path c = Golden.root().resolve("pipeline/case-components");
        ModelFiles files = new ModelFiles("golden-pipeline-q8_0", quantize(c.resolve("transformer"), "pipeline", form),
                c.resolve("transformer/config.json"), c.resolve("text_encoder"), c.resolve("text_encoder/config.json"),
                Golden.root().resolve("tokenizer/qwen3/tokenizer.json"), c.resolve("vae"), c.resolve("vae/config.json"), sched);
        GenerationRequest.Builder request = GoldenRequests.textToImage(meta);
        List<List<Tensor>> steps = new ArrayList<>();
        PipelineListener listener = new PipelineListener() {
            @Override
            public void step(Denoiser.Step step) {
                steps.add(step.transformerOut().stream().map(Tensor::copy).toList());
            }
        };
        String before = System.getProperty("zimage.int8");
        if (!int8) {
            System.setProperty("zimage.int8", "off");
        }
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             ZImagePipeline pipe = ZImagePipeline.load(files, new ZImagePipeline.Options("onednn", null))) {
            // A bf16 file runs with int8 false: nothing of it may be converted either.
            assertEquals(int8, pipe.weightPreparation().prepared(), "8-bit weights converted at load");
            Tensor init = Golden.tensor(in, "latents_init");
            GenerationRequest r = request.initialLatents(init.reshape(16, 1, init.dim(2), init.dim(3))).build();
            GeneratedImage img = pipe.generate(r, listener, Cancellation.none()).get(0);
            String precision = img.metadata().precision();
            return new Run(steps, img.latents().data(), precision);
        } finally {
            if (before == null) {
                System.clearProperty("zimage.int8");
            } else {
                System.setProperty("zimage.int8", before);
            }
        }
    }

    /** {@code source} (a diffusers transformer folder or file) as an 8-bit GGUF file, written once per name and form. */
    private static synchronized Path quantize(Path source, String name, Form form) throws IOException {
        Path out = tmp.resolve(name + "-" + form.tag() + ".gguf");
        if (!Files.exists(out)) {
            try (TensorSource src = Checkpoints.open(source)) {
                GgufWriter.Progress quiet = (index, count, tensor, done, total) -> { };
                switch (form) {
                    case INT8 -> TransformerQuantizer.quantizeInt8(src, out, quiet);
                    case Q8_0 -> TransformerQuantizer.quantize(src, DType.Q8_0, out, quiet);
                    case BF16 -> TransformerQuantizer.quantize(src, DType.BF16, out, quiet);
                }
            }
        }
        return out;
    }

    private static List<ZImageTransformer.Input> inputs(SafeTensors in) {
        Tensor t = Golden.tensor(in, "t");
        List<ZImageTransformer.Input> list = new ArrayList<>();
        for (int i = 0; i < t.numel(); i++) {
            list.add(new ZImageTransformer.Input(Golden.tensor(in, "x." + i), Golden.tensor(in, "cap_feats." + i), t.data()[i]));
        }
        return list;
    }
}
