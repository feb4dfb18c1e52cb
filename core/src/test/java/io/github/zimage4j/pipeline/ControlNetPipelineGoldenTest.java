package io.github.zimage4j.pipeline;

import io.github.zimage4j.controlnet.ZImageControlNet.RefinerRouting;
import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.ImageTensors;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
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

/**
 * Every golden/controlnet pipeline case (diffusers' ZImageControlNetPipeline and
 * ZImageControlNetInpaintPipeline) end to end from the prompt and the PNGs: the control context, every
 * step, the final latents and the images; with the recorded noise injected and from the seed, and with
 * the VideoX-Fun refiner-hint routing against the cases' second expected output.
 */
class ControlNetPipelineGoldenTest {

    @TempDir
    Path tmp;

    static List<Path> cases() {
        return Golden.cases("controlnet").stream().filter(d -> Files.isRegularFile(d.resolve("control_image.png"))).toList();
    }

    @TestFactory
    Stream<DynamicTest> injectedNoise() {
        return cases().stream().map(d -> DynamicTest.dynamicTest(d.getFileName().toString(), () -> check(d, true, RefinerRouting.DIFFUSERS)));
    }

    @TestFactory
    Stream<DynamicTest> fromSeed() {
        return cases().stream().map(d -> DynamicTest.dynamicTest(d.getFileName().toString(), () -> check(d, false, RefinerRouting.DIFFUSERS)));
    }

    @TestFactory
    Stream<DynamicTest> videoxRouting() {
        return cases().stream().map(d -> DynamicTest.dynamicTest(d.getFileName().toString(), () -> check(d, true, RefinerRouting.VIDEOX)));
    }

    void check(Path dir, boolean injected, RefinerRouting routing) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double latentsAtol = Golden.tolerance(meta, "latents_atol");
        double imageAtol = Golden.tolerance(meta, "image_float_atol");
        int uint8Max = (int) Golden.tolerance(meta, "uint8_max_diff");
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Map<?, ?> components = (Map<?, ?>) meta.get("components");
        Path sched = tmp.resolve("scheduler_config.json");
        Files.writeString(sched, Json.write(meta.get("scheduler_config")));
        Path transformer = dir.resolve((String) components.get("transformer")).normalize();
        Path controlnet = dir.resolve((String) components.get("controlnet")).normalize();
        Path te = dir.resolve((String) components.get("text_encoder")).normalize();
        Path vae = dir.resolve((String) components.get("vae")).normalize();
        ModelFiles files = new ModelFiles("golden-controlnet", transformer, transformer.resolve("config.json"), te,
                te.resolve("config.json"), Golden.root().resolve("tokenizer/qwen3/tokenizer.json"), vae, vae.resolve("config.json"), sched);
        Backend backend = TestBackend.get();

        UInt8Image controlImage = ImageFiles.readRgb(dir.resolve("control_image.png"));
        boolean inpaint = Files.isRegularFile(dir.resolve("mask.png"));
        Object neg = meta.get("negative_prompt");
        GenerationRequest.Builder b = GenerationRequest.builder().prompt((String) meta.get("prompt"))
                .negativePrompt(neg == null ? "" : (String) neg)
                .size(((Number) args.get("width")).intValue(), ((Number) args.get("height")).intValue())
                .steps(((Number) args.get("num_inference_steps")).intValue())
                .guidance(((Number) args.get("guidance_scale")).doubleValue())
                .maxSequenceLength(((Number) args.get("max_sequence_length")).intValue())
                .seed(((Number) meta.get("seed")).longValue())
                .controlImage(controlImage)
                .controlScale(((Number) args.get("controlnet_conditioning_scale")).doubleValue());
        if (inpaint) {
            b.initImage(ImageFiles.readRgb(dir.resolve("input_image.png"))).mask(ImageFiles.readGray(dir.resolve("mask.png")));
        }
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"));
             ZImagePipeline pipe = ZImagePipeline.load(files, new ZImagePipeline.Options(backend.name(), null).withControlNet(controlnet, routing))) {
            Compare.allClose("control_image", Golden.tensor(in, "control_image").data(), ImageTensors.toModelInput(controlImage).data(), 0, 0);
            if (injected) {
                Tensor init = Golden.tensor(in, "latents_init");
                b.initialLatents(init.reshape(16, 1, init.dim(2), init.dim(3)));
            }
            GenerationRequest request = b.build();
            ZImagePipeline.Mode mode = ZImagePipeline.Mode.of(request);
            assertEquals(inpaint ? ZImagePipeline.Mode.CONTROL_INPAINT : ZImagePipeline.Mode.TEXT_TO_IMAGE, mode);
            Tensor context = pipe.encodeImages(request, request.resolve(pipe.variant()), mode, PipelineListener.NONE).controlContext();
            Compare.allClose("control_context", Golden.tensor(out, "control_context").data(), context.data(), latentsAtol, 0);

            PipelineGoldenTest.Recorder rec = new PipelineGoldenTest.Recorder();
            GeneratedImage img = pipe.generate(request, rec, Cancellation.none()).get(0);

            // With the VideoX-Fun routing the 2.x cases' second expected output holds the latents and images.
            boolean videox = routing == RefinerRouting.VIDEOX && out.contains("videox_fun.latents_final");
            String prefix = videox ? "videox_fun." : "";
            PipelineGoldenTest.compareSteps(out, (List<?>) meta.get("steps"), rec, latentsAtol, prefix, !videox);
            PipelineGoldenTest.compareResult(out, img, rec, latentsAtol, imageAtol, uint8Max, prefix);
        }
    }
}
