package io.github.zimage4j.pipeline;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.tensor.StoredTensor;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.GoldenRequests;
import io.github.zimage4j.testing.TestBackend;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every golden pipeline case generated from ComfyUI-style component files, found the way
 * {@code generate --transformer F --text-encoder F --vae F} finds them ({@link ModelFiles#resolve}): the
 * transformer as an original-layout single file ({@code model.diffusion_model.} prefix, fused qkv, stray
 * {@code norm_final.weight}) without a config, the text encoder as a lone file without a config (both
 * configs come from the shapes), the VAE as a lone file with its config beside it. The image must be the
 * diffusers layout's reference image.
 */
class ComfyTrioGoldenTest {

    @TempDir
    static Path tmp;

    private static Path transformerFile;
    private static Path textEncoderFile;
    private static Path vaeFile;

    static synchronized void writeTrio() throws IOException {
        if (transformerFile != null) {
            return;
        }
        Path c = Golden.root().resolve("pipeline/case-components");
        Path dir = Files.createDirectories(tmp.resolve("comfy"));
        Path models = Files.createDirectories(dir.resolve("diffusion_models"));
        Path te = Files.createDirectories(dir.resolve("text_encoders"));
        Path vae = Files.createDirectories(dir.resolve("vae"));
        transformerFile = models.resolve("z_image_tiny.safetensors");
        try (SafeTensors w = SafeTensors.open(SafeTensorsFolder.single(c.resolve("transformer")))) {
            SafeTensorsWriter out = new SafeTensorsWriter();
            String p = "model.diffusion_model.";
            for (String name : w.names()) {
                StoredTensor t = w.get(name);
                if (name.contains(".attention.to_k.") || name.contains(".attention.to_v.")) {
                    continue;
                }
                if (name.contains(".attention.to_q.")) {
                    String block = name.substring(0, name.indexOf(".attention.to_q."));
                    float[] q = t.toFloats();
                    float[] k = w.get(block + ".attention.to_k.weight").toFloats();
                    float[] v = w.get(block + ".attention.to_v.weight").toFloats();
                    float[] qkv = new float[q.length * 3];
                    System.arraycopy(q, 0, qkv, 0, q.length);
                    System.arraycopy(k, 0, qkv, q.length, k.length);
                    System.arraycopy(v, 0, qkv, 2 * q.length, v.length);
                    out.addF32(p + block + ".attention.qkv.weight", new long[]{3 * t.dim(0), t.dim(1)}, qkv);
                    continue;
                }
                String original = name.replace("all_x_embedder.2-1.", "x_embedder.")
                        .replace("all_final_layer.2-1.", "final_layer.").replace(".attention.to_out.0.", ".attention.out.")
                        .replace(".attention.norm_q.", ".attention.q_norm.").replace(".attention.norm_k.", ".attention.k_norm.");
                out.addF32(p + original, t.shape(), t.toFloats());
            }
            long dim = w.get("x_pad_token").dim(1);
            out.addF32(p + "norm_final.weight", new long[]{dim}, new float[(int) dim]);
            out.write(transformerFile);
        }
        textEncoderFile = Files.copy(SafeTensorsFolder.single(c.resolve("text_encoder")), te.resolve("qwen_tiny.safetensors"));
        vaeFile = Files.copy(SafeTensorsFolder.single(c.resolve("vae")), vae.resolve("vae_tiny.safetensors"));
        Files.copy(c.resolve("vae/config.json"), vae.resolve("config.json"));
    }

    /** The one .safetensors file of a component folder. */
    static final class SafeTensorsFolder {
        static Path single(Path folder) throws IOException {
            try (Stream<Path> s = Files.list(folder)) {
                List<Path> files = s.filter(p -> p.toString().endsWith(".safetensors")).toList();
                assertEquals(1, files.size(), "safetensors files in " + folder);
                return files.get(0);
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> comfyFilesGenerateTheReferenceImage() {
        return PipelineGoldenTest.cases().stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> {
            writeTrio();
            check(dir, transformerFile);
        }));
    }

    /**
     * The pipeline cases' transformer written by {@code quantize --type q4_k}: its rows (16, 64, 170 values) are
     * no whole 256-value K-quant blocks, so every tensor stays float32 in the GGUF and the reference image must
     * come out, through the GGUF reader, the original-layout names and the derived config.
     */
    @TestFactory
    Stream<DynamicTest> aGgufTransformerGeneratesTheReferenceImage() {
        return PipelineGoldenTest.cases().stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> {
            writeTrio();
            check(dir, writeGguf());
        }));
    }

    private static Path ggufFile;

    static synchronized Path writeGguf() throws IOException {
        if (ggufFile == null) {
            Path out = Files.createDirectories(tmp.resolve("gguf")).resolve("z_image_tiny-Q4_K.gguf");
            try (io.github.zimage4j.io.TensorSource src = io.github.zimage4j.io.Checkpoints.open(
                    Golden.root().resolve("pipeline/case-components/transformer"))) {
                io.github.zimage4j.quantize.TransformerQuantizer.quantize(src, io.github.zimage4j.io.DType.Q4_K, out,
                        (index, count, name, done, total) -> { });
            }
            byte[] magic = new byte[4];
            try (java.io.InputStream in = Files.newInputStream(out)) {
                assertEquals(4, in.read(magic));
            }
            assertEquals("GGUF", new String(magic, java.nio.charset.StandardCharsets.US_ASCII), "a GGUF file");
            ggufFile = out;
        }
        return ggufFile;
    }

    static void check(Path dir, Path transformerFile) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        Map<?, ?> tol = (Map<?, ?>) meta.get("recommended_tolerance");
        double latentsAtol = ((Number) tol.get("latents_atol")).doubleValue();
        int uint8Max = ((Number) tol.get("uint8_max_diff")).intValue();
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Path sched = tmp.resolve(dir.getFileName() + "-scheduler_config.json");
        Files.writeString(sched, Json.write(meta.get("scheduler_config")));
        ModelFiles found = ModelFiles.resolve(null, new ModelFiles.Overrides(transformerFile, textEncoderFile, vaeFile,
                Golden.root().resolve("tokenizer/qwen3/tokenizer.json")));
        assertEquals(null, found.transformerConfig(), "a ComfyUI transformer file comes without a config");
        ModelFiles files = new ModelFiles(found.name(), found.transformer(), found.transformerConfig(), found.textEncoder(),
                found.textEncoderConfig(), found.tokenizer(), found.vae(), found.vaeConfig(), sched);
        GenerationRequest request = GoldenRequests.textToImage(meta).build();
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"));
             ZImagePipeline pipe = ZImagePipeline.load(files, new ZImagePipeline.Options(TestBackend.get().name(), null))) {
            Tensor init = Golden.tensor(in, "latents_init");
            request = request.toBuilder().initialLatents(init.reshape(16, 1, init.dim(2), init.dim(3))).build();
            GeneratedImage img = pipe.generate(request, PipelineListener.NONE, Cancellation.none()).get(0);
            Compare.allClose("latents_final", Golden.tensor(out, "latents_final").data(), img.latents().data(), latentsAtol, 0);
            byte[] ours8 = img.image().pixels();
            float[] expected8 = Golden.tensor(out, "image_uint8").data();
            assertEquals(expected8.length, ours8.length, "image size");
            int worst = 0;
            for (int i = 0; i < ours8.length; i++) {
                worst = Math.max(worst, Math.abs((ours8[i] & 0xFF) - (int) expected8[i]));
            }
            assertTrue(worst <= uint8Max, "uint8 image differs by up to " + worst + " levels (allowed " + uint8Max + ")");
        }
    }
}
