package io.github.zimage4j.pipeline;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.GoldenRequests;
import io.github.zimage4j.testing.TestBackend;
import io.github.zimage4j.tokenizer.PromptTokens;
import io.github.zimage4j.tokenizer.Qwen3Tokenizer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every golden/pipeline case end to end, from the prompt text: token ids, prompt embeddings, every step's
 * transformer outputs, guided prediction and latents, the final latents, the VAE input, the decoded float
 * image, the [0, 1] image and the 8-bit image — once with the recorded initial noise injected and once
 * drawing it from the seed.
 */
class PipelineGoldenTest {

    @TempDir
    Path tmp;

    static List<Path> cases() {
        return Golden.atLeastOne(Golden.cases("pipeline").stream()
                .filter(d -> Files.isRegularFile(d.resolve("inputs.safetensors"))).toList(), "pipeline case with inputs.safetensors");
    }

    @TestFactory
    Stream<DynamicTest> injectedNoise() {
        return cases().stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir, true)));
    }

    @TestFactory
    Stream<DynamicTest> fromSeed() {
        return cases().stream().map(dir -> DynamicTest.dynamicTest(dir.getFileName().toString(), () -> check(dir, false)));
    }

    /** Captures everything the listener reports. */
    static final class Recorder implements PipelineListener {
        List<Tensor> positive;
        List<Tensor> negative;
        List<Tensor> initialLatents;
        final List<Denoiser.Step> steps = new ArrayList<>();
        final List<float[]> stepLatents = new ArrayList<>();
        Tensor decoded;

        @Override
        public void promptEmbeddings(List<Tensor> pos, List<Tensor> neg) {
            positive = pos;
            negative = neg;
        }

        @Override
        public void initialLatents(List<Tensor> latents) {
            initialLatents = latents.stream().map(Tensor::copy).toList();
        }

        @Override
        public void step(Denoiser.Step step) {
            steps.add(step);
            stepLatents.add(step.latents().get(0).clone()); // the live array changes in later steps
        }

        @Override
        public void decoded(int image, Tensor d) {
            decoded = d;
        }
    }

    static ModelFiles components(Path schedulerConfig) {
        Path c = Golden.root().resolve("pipeline/case-components");
        return new ModelFiles("golden-pipeline", c.resolve("transformer"), c.resolve("transformer/config.json"),
                c.resolve("text_encoder"), c.resolve("text_encoder/config.json"),
                Golden.root().resolve("tokenizer/qwen3/tokenizer.json"), c.resolve("vae"), c.resolve("vae/config.json"),
                schedulerConfig);
    }

    void check(Path dir, boolean injected) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        Map<?, ?> tol = (Map<?, ?>) meta.get("recommended_tolerance");
        double latentsAtol = ((Number) tol.get("latents_atol")).doubleValue();
        double imageAtol = ((Number) tol.get("image_float_atol")).doubleValue();
        int uint8Max = ((Number) tol.get("uint8_max_diff")).intValue();
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Path sched = tmp.resolve("scheduler_config.json");
        Files.writeString(sched, Json.write(meta.get("scheduler_config")));
        Backend backend = TestBackend.get();

        String prompt = (String) meta.get("prompt");
        int width = ((Number) args.get("width")).intValue();
        int height = ((Number) args.get("height")).intValue();
        GenerationRequest request = GoldenRequests.textToImage(meta).build();

        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"));
             ZImagePipeline pipe = ZImagePipeline.load(components(sched), new ZImagePipeline.Options(backend.name(), null))) {
            // The prompt as the pipeline tokenizes it.
            Qwen3Tokenizer tok = Qwen3Tokenizer.load(Golden.root().resolve("tokenizer/qwen3/tokenizer.json"));
            assertArrayEquals(realIds(in, "prompt"), tok.chatIds(prompt, request.maxSequenceLength()).ids(), "prompt token ids");
            if (in.contains("negative.input_ids")) {
                PromptTokens n = tok.chatIds(request.negativePrompt(), request.maxSequenceLength());
                assertArrayEquals(realIds(in, "negative"), n.ids(), "negative prompt token ids");
            }
            if (injected) {
                Tensor init = Golden.tensor(in, "latents_init");
                request = request.toBuilder().initialLatents(init.reshape(16, 1, init.dim(2), init.dim(3))).build();
            }
            Recorder rec = new Recorder();
            GeneratedImage img = pipe.generate(request, rec, Cancellation.none()).get(0);

            Compare.allClose("prompt_embeds.0", Golden.tensor(out, "prompt_embeds.0").data(), rec.positive.get(0).data(), 1e-4, 1e-4);
            if (out.contains("negative_prompt_embeds.0")) {
                Compare.allClose("negative_prompt_embeds.0", Golden.tensor(out, "negative_prompt_embeds.0").data(),
                        rec.negative.get(0).data(), 1e-4, 1e-4);
            } else {
                assertTrue(rec.negative.isEmpty(), "no negative prompt without guidance");
            }
            compareSteps(out, (List<?>) meta.get("steps"), rec, latentsAtol, "", true);
            compareResult(out, img, rec, latentsAtol, imageAtol, uint8Max, "");
            assertEquals(((Number) meta.get("seed")).longValue(), img.seed());
            assertEquals(width, img.image().width());
            assertEquals(height, img.image().height());
        }
    }

    /**
     * Every step against the case's {@code step.i.*}: σ, σ_next, cfg_applied (where recorded), and with
     * {@code transformerOutputs} the transformer's t and outputs and the guided prediction; then the latents
     * after the step ({@code prefix} selects a second expected output, e.g. {@code videox_fun.}).
     */
    static void compareSteps(SafeTensors out, List<?> steps, Recorder rec, double atol, String prefix, boolean transformerOutputs) {
        assertEquals(steps.size(), rec.steps.size(), "step count");
        for (int i = 0; i < steps.size(); i++) {
            Map<?, ?> s = (Map<?, ?>) steps.get(i);
            Denoiser.Step ours = rec.steps.get(i);
            if (s.containsKey("cfg_applied")) {
                assertEquals(s.get("cfg_applied"), ours.guided(), "step " + i + " cfg_applied");
            }
            assertEquals(((Number) s.get("sigma")).floatValue(), ours.sigma(), "step " + i + " sigma");
            assertEquals(((Number) s.get("sigma_next")).floatValue(), ours.sigmaNext(), "step " + i + " sigma_next");
            if (transformerOutputs) {
                float[] t = Golden.tensor(out, "step." + i + ".transformer_t").data();
                assertEquals(t[0], ours.modelTime(), "step " + i + " transformer t");
                assertEquals(t.length, ours.transformerOut().size(), "step " + i + " transformer batch");
                for (int j = 0; j < t.length; j++) {
                    Compare.allClose("step." + i + ".transformer_out." + j, Golden.tensor(out, "step." + i + ".transformer_out." + j).data(),
                            ours.transformerOut().get(j).data(), atol, 0);
                }
                Compare.allClose("step." + i + ".noise_pred", Golden.tensor(out, "step." + i + ".noise_pred").data(),
                        ours.noisePred().get(0), atol, 0);
            }
            Compare.allClose(prefix + "step." + i + ".latents", Golden.tensor(out, prefix + "step." + i + ".latents").data(),
                    rec.stepLatents.get(i), atol, 0);
        }
    }

    /** The final latents, the decoder output, the [0, 1] image and the 8-bit image (± uint8Max levels). */
    static void compareResult(SafeTensors out, GeneratedImage img, Recorder rec, double latentsAtol, double imageAtol,
                              int uint8Max, String prefix) {
        Compare.allClose(prefix + "latents_final", Golden.tensor(out, prefix + "latents_final").data(), img.latents().data(), latentsAtol, 0);
        // image_float = decoded/2 + 1/2, so its tolerance doubles on the decoder's [-1, 1] scale.
        Compare.allClose(prefix + "decoded", Golden.tensor(out, prefix + "decoded").data(), rec.decoded.data(), 2 * imageAtol, 0);
        Compare.allClose(prefix + "image_float", Golden.tensor(out, prefix + "image_float").data(),
                io.github.zimage4j.image.ImageTensors.unitRangeHwc(rec.decoded).data(), imageAtol, 0);
        float[] expected8 = Golden.tensor(out, prefix + "image_uint8").data();
        byte[] ours8 = img.image().pixels();
        assertEquals(expected8.length, ours8.length, "image size");
        int worst = 0;
        for (int i = 0; i < ours8.length; i++) {
            worst = Math.max(worst, Math.abs((ours8[i] & 0xFF) - (int) expected8[i]));
        }
        assertTrue(worst <= uint8Max, "uint8 image differs by up to " + worst + " levels (allowed " + uint8Max + ")");
    }

    /** The ids where the attention mask is 1. */
    static int[] realIds(SafeTensors in, String prefix) {
        long[] ids = in.find(prefix + ".input_ids").toLongs();
        long[] mask = in.find(prefix + ".attention_mask").toLongs();
        int n = 0;
        while (n < mask.length && mask[n] == 1) {
            n++;
        }
        for (int i = n; i < mask.length; i++) {
            if (mask[i] != 0) {
                fail("attention mask is not right-padded");
            }
        }
        return Arrays.stream(Arrays.copyOf(ids, n)).mapToInt(Math::toIntExact).toArray();
    }
}
