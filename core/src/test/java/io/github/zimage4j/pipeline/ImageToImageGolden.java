package io.github.zimage4j.pipeline;

import io.github.zimage4j.image.ImageFiles;
import io.github.zimage4j.image.ImageTensors;
import io.github.zimage4j.image.LanczosResize;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.io.Json;
import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.kernels.Backend;
import io.github.zimage4j.testing.Compare;
import io.github.zimage4j.testing.Golden;
import io.github.zimage4j.testing.TestBackend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * One golden img2img or inpaint case end to end through {@link ZImagePipeline}: the image as read from
 * its PNG, the mask processing, the initial latents, every step, the final latents and the images; with
 * the reference's random draws injected or drawn from the seed.
 */
final class ImageToImageGolden {

    private ImageToImageGolden() {
    }

    static void check(Path dir, Path tmp, boolean injected) throws IOException {
        Map<String, Object> meta = Golden.meta(dir);
        double latentsAtol = Golden.tolerance(meta, "latents_atol");
        double imageAtol = Golden.tolerance(meta, "image_float_atol");
        int uint8Max = (int) Golden.tolerance(meta, "uint8_max_diff");
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Path sched = tmp.resolve("scheduler_config.json");
        Files.writeString(sched, Json.write(meta.get("scheduler_config")));
        Backend backend = TestBackend.get();

        UInt8Image image = ImageFiles.readRgb(dir.resolve("input_image.png"));
        Path maskFile = dir.resolve("mask.png");
        UInt8Image mask = Files.isRegularFile(maskFile) ? ImageFiles.readGray(maskFile) : null;
        Object neg = meta.get("negative_prompt_effective") != null ? meta.get("negative_prompt_effective") : meta.get("negative_prompt");
        // height/width are None in every case: the size comes from the image.
        GenerationRequest.Builder b = GenerationRequest.builder().prompt((String) meta.get("prompt"))
                .negativePrompt(neg == null ? "" : (String) neg)
                .steps(((Number) args.get("num_inference_steps")).intValue())
                .guidance(((Number) args.get("guidance_scale")).doubleValue())
                .maxSequenceLength(((Number) args.get("max_sequence_length")).intValue())
                .seed(((Number) meta.get("seed")).longValue())
                .initImage(image).mask(mask)
                .strength(((Number) args.get("strength")).doubleValue());

        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"));
             ZImagePipeline pipe = ZImagePipeline.load(PipelineGoldenTest.components(sched), new ZImagePipeline.Options(backend.name(), null))) {
            float[] pngPixels = Golden.tensor(in, "image_uint8").data();
            for (int i = 0; i < pngPixels.length; i++) {
                assertEquals((int) pngPixels[i], image.pixels()[i] & 0xFF, "input image pixel " + i);
            }
            Compare.allClose("image", Golden.tensor(in, "image").data(), ImageTensors.toModelInput(image).data(), 0, 0);
            if (mask != null) {
                checkMask(in, out, mask, image);
            }
            int lh = image.height() / 8;
            int lw = image.width() / 8;
            if (injected) {
                b.initialLatents(Golden.tensor(in, "noise").reshape(16, 1, lh, lw))
                        .initImageNoise(Golden.tensor(in, "posterior_eps").reshape(16, lh, lw));
            }
            GenerationRequest request = b.build();
            assertEquals(image.width(), request.width(), "width from the image");
            assertEquals(image.height(), request.height(), "height from the image");

            PipelineGoldenTest.Recorder rec = new PipelineGoldenTest.Recorder();
            GeneratedImage img = pipe.generate(request, rec, Cancellation.none()).get(0);

            Compare.allClose("latents_init", Golden.tensor(out, "latents_init").data(), rec.initialLatents.get(0).data(), latentsAtol, 0);
            PipelineGoldenTest.compareSteps(out, (List<?>) meta.get("steps"), rec, latentsAtol, "", true);
            PipelineGoldenTest.compareResult(out, img, rec, latentsAtol, imageAtol, uint8Max, "");
        }
    }

    /** Resize (when the case has one), binarisation and the nearest latent mask, against the reference's tensors. */
    private static void checkMask(SafeTensors in, SafeTensors out, UInt8Image mask, UInt8Image image) {
        int w = image.width();
        int h = image.height();
        if (in.contains("mask_resized_uint8")) {
            float[] expected = Golden.tensor(in, "mask_resized_uint8").data();
            byte[] ours = LanczosResize.resize(mask, w, h).pixels();
            for (int i = 0; i < expected.length; i++) {
                assertEquals((int) expected[i], ours[i] & 0xFF, "resized mask pixel " + i);
            }
        }
        InpaintMask m = InpaintMask.of(mask, w, h);
        Compare.allClose("mask", Golden.tensor(in, "mask").data(), m.repaint(), 0, 0);
        Compare.allClose("mask_latent", Golden.tensor(out, "mask_latent").data(), m.latentMask(), 0, 0);
        Compare.allClose("masked_image", Golden.tensor(out, "masked_image").data(),
                m.keepOnly(ImageTensors.toModelInput(image)).data(), 0, 0);
    }
}
