package io.github.zimage4j.quantize;

import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.Gguf;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.ZImagePipeline;
import io.github.zimage4j.tensor.FloatFormats;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.GoldenRequests;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Not a test (a report, run by hand): how far each golden pipeline case moves when the transformer is
 * quantized with {@code quantize}. The GGUF is written by {@link TransformerQuantizer}, read back with the
 * GGUF reader, dequantized to float32 under the diffusers names, and the pipeline runs on that; the
 * relative RMS of the final latents and of the 8-bit image is against the run with the original float32
 * transformer and against a bf16 copy of it.
 *
 * <pre>java -cp core/target/classes:core/target/test-classes io.github.zimage4j.quantize.QuantizedPipelineReport</pre>
 */
public final class QuantizedPipelineReport {

    private QuantizedPipelineReport() {
    }

    record Run(float[] latents, float[] image) {
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        Path work = Files.createTempDirectory("zimage-quant-report");
        System.out.println("## the golden components' transformer (dim 64: no row is a whole K-quant super-block of 256)");
        report(Golden.root().resolve("pipeline/case-components/transformer"), work.resolve("golden"));
        System.out.println("## a random transformer of dim 256 (head_dim 128, axes 32/48/48, the golden text encoder and VAE)");
        Path wide = work.resolve("wide/transformer");
        Files.createDirectories(wide);
        Map<String, Object> cfg = new java.util.LinkedHashMap<>((Map<String, Object>) Json.parse(
                Files.readString(Golden.root().resolve("pipeline/case-components/transformer/config.json"))));
        cfg.put("dim", 256L);
        cfg.put("axes_dims", List.of(32L, 48L, 48L));
        Files.writeString(wide.resolve("config.json"), Json.write(cfg));
        io.github.zimage4j.io.RandomCheckpoint.write(wide.resolve("model.safetensors"),
                io.github.zimage4j.dit.ZImageTransformerConfig.read(wide.resolve("config.json")).expectedTensors(), DType.F32, 7);
        report(wide, work.resolve("wide"));
    }

    static void report(Path f32, Path work) throws Exception {
        Files.createDirectories(work);
        Path bf16 = dequantizedCopy(f32, DType.BF16, work);
        List<DType> types = List.of(DType.Q8_0, DType.Q6_K, DType.Q4_K, DType.Q4_0);
        System.out.printf("f32 transformer: %d bytes%n", Files.size(f32.resolve("model.safetensors")));
        Map<DType, Path> quantized = new java.util.LinkedHashMap<>();
        for (DType t : types) {
            quantized.put(t, dequantizedCopy(f32, t, work));
        }
        System.out.println("case | type | GGUF bytes | latents rel RMS vs f32 | vs bf16 | image rel RMS vs f32 | vs bf16 | max |Δ| uint8 vs bf16");
        for (Path c : Golden.cases("pipeline")) {
            if (!Files.isRegularFile(c.resolve("inputs.safetensors"))) {
                continue;
            }
            Run ref = run(c, f32, work);
            Run b = run(c, bf16, work);
            System.out.printf("%s | bf16 | - | %.2e | 0 | %.2e | 0 | 0%n", c.getFileName(), relRms(b.latents, ref.latents), relRms(b.image, ref.image));
            for (Map.Entry<DType, Path> e : quantized.entrySet()) {
                Run q = run(c, e.getValue(), work);
                System.out.printf("%s | %s | %d | %.2e | %.2e | %.2e | %.2e | %.0f%n", c.getFileName(), e.getKey(),
                        Files.size(work.resolve(e.getKey() + ".gguf")), relRms(q.latents, ref.latents), relRms(q.latents, b.latents),
                        relRms(q.image, ref.image), relRms(q.image, b.image), maxAbs(q.image, b.image) * 255);
            }
        }
    }

    /** A transformer folder holding the float32 values the GGUF (or bf16 copy) of {@code type} stores, diffusers names. */
    static Path dequantizedCopy(Path transformer, DType type, Path work) throws IOException {
        Path dir = work.resolve("transformer-" + type);
        Files.createDirectories(dir);
        Files.copy(transformer.resolve("config.json"), dir.resolve("config.json"));
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensors src = SafeTensors.open(transformer)) {
            if (type == DType.BF16) {
                for (String n : src.names()) {
                    float[] v = src.get(n).toFloats();
                    for (int i = 0; i < v.length; i++) {
                        v[i] = FloatFormats.roundToBf16(v[i]);
                    }
                    w.addF32(n, src.get(n).shape(), v);
                }
                w.write(dir.resolve("model.safetensors"));
                return dir;
            }
            Path gguf = work.resolve(type + ".gguf");
            TransformerQuantizer.quantize(src, type, gguf, (i, n, name, done, total) -> { });
            try (Gguf g = Gguf.open(gguf)) {
                for (String n : g.names()) {
                    StoredTensor t = g.get(n);
                    float[] v = t.toFloats();
                    if (n.endsWith(".attention.qkv.weight")) {
                        String base = n.substring(0, n.length() - "qkv.weight".length());
                        int rows = (int) t.shape()[0] / 3;
                        int cols = (int) t.shape()[1];
                        String[] parts = {"to_q", "to_k", "to_v"};
                        for (int p = 0; p < 3; p++) {
                            w.addF32(base + parts[p] + ".weight", new long[]{rows, cols},
                                    java.util.Arrays.copyOfRange(v, p * rows * cols, (p + 1) * rows * cols));
                        }
                    } else {
                        w.addF32(n.replace("x_embedder.", "all_x_embedder.2-1.").replace("final_layer.", "all_final_layer.2-1.")
                                .replace(".attention.out.", ".attention.to_out.0.").replace(".q_norm.", ".norm_q.")
                                .replace(".k_norm.", ".norm_k."), t.shape(), v);
                    }
                }
            }
        }
        w.write(dir.resolve("model.safetensors"));
        return dir;
    }

    static Run run(Path caseDir, Path transformer, Path work) throws IOException {
        Map<String, Object> meta = Golden.meta(caseDir);
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Path sched = work.resolve("scheduler_config.json");
        Files.writeString(sched, Json.write(meta.get("scheduler_config")));
        Path c = Golden.root().resolve("pipeline/case-components");
        ModelFiles files = new ModelFiles("report", transformer, transformer.resolve("config.json"),
                c.resolve("text_encoder"), c.resolve("text_encoder/config.json"),
                Golden.root().resolve("tokenizer/qwen3/tokenizer.json"), c.resolve("vae"), c.resolve("vae/config.json"), sched);
        GenerationRequest request = GoldenRequests.textToImage(meta).build();
        try (ZImagePipeline pipe = ZImagePipeline.load(files, ZImagePipeline.Options.defaults())) {
            GeneratedImage img = pipe.generate(request, new PipelineListener() {
            }, Cancellation.none()).get(0);
            byte[] px = img.image().pixels();
            float[] image = new float[px.length];
            for (int i = 0; i < px.length; i++) {
                image[i] = (px[i] & 0xFF) / 255f;
            }
            Tensor lat = img.latents();
            return new Run(lat.data().clone(), image);
        }
    }

    static double relRms(float[] a, float[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }

    static double maxAbs(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
