package io.github.zimage4j.pipeline;

import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Requests that do not fit the loaded models fail before any model work, naming what is missing. */
class ControlModesTest {

    @TempDir
    Path tmp;

    ZImagePipeline load(String controlNet) throws Exception {
        Path c = Golden.root().resolve("controlnet/case-components");
        Path p = Golden.root().resolve("pipeline/case-components");
        Path sched = tmp.resolve("scheduler_config.json");
        Files.writeString(sched, "{\"shift\": 3.0, \"use_dynamic_shifting\": false}");
        ModelFiles files = new ModelFiles("golden-controlnet", c.resolve("transformer"), c.resolve("transformer/config.json"),
                p.resolve("text_encoder"), p.resolve("text_encoder/config.json"), Golden.root().resolve("tokenizer/qwen3/tokenizer.json"),
                p.resolve("vae"), p.resolve("vae/config.json"), sched);
        ZImagePipeline.Options o = new ZImagePipeline.Options("java", null);
        return ZImagePipeline.load(files, controlNet == null ? o : o.withControlNet(c.resolve(controlNet), null));
    }

    static GenerationRequest.Builder request() {
        return GenerationRequest.builder().prompt("x").size(64, 64).steps(2).seed(1L);
    }

    @Test
    void controlImageWithoutAControlNet() throws Exception {
        try (ZImagePipeline pipe = load(null)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> pipe.generate(request().controlImage(UInt8Image.blank(64, 64, 3)).build()));
            assertTrue(e.getMessage().contains("needs a ControlNet"), e.getMessage());
        }
    }

    @Test
    void inpaintingNeedsA2xControlNetAndNoStrength() throws Exception {
        GenerationRequest.Builder inpaint = request().controlImage(UInt8Image.blank(64, 64, 3))
                .initImage(UInt8Image.blank(64, 64, 3)).mask(UInt8Image.blank(64, 64, 1));
        try (ZImagePipeline pipe = load("controlnet-union1.0")) {
            assertEquals("Union 1.0", pipe.controlNet().describeLayout());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipe.generate(inpaint.build()));
            assertTrue(e.getMessage().contains("no inpaint channels"), e.getMessage());
        }
        try (ZImagePipeline pipe = load("controlnet-union2.1")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pipe.generate(inpaint.strength(0.5).build()));
            assertTrue(e.getMessage().contains("does not apply to ControlNet inpainting"), e.getMessage());
        }
    }

    @Test
    void controlWithImageToImageComposes() throws Exception {
        // No reference pipeline exists for this mix: the hints must reach the image-to-image run.
        try (ZImagePipeline pipe = load("controlnet-union2.1")) {
            GenerationRequest plain = request().initImage(UInt8Image.blank(64, 64, 3)).strength(0.5).build();
            GenerationRequest controlled = plain.toBuilder().controlImage(UInt8Image.blank(64, 64, 3)).build();
            GeneratedImage a = pipe.generate(plain).get(0);
            GeneratedImage b = pipe.generate(controlled).get(0);
            float[] x = a.latents().data();
            float[] y = b.latents().data();
            double diff = 0;
            for (int i = 0; i < x.length; i++) {
                diff = Math.max(diff, Math.abs(x[i] - y[i]));
            }
            assertTrue(diff > 1e-3, "the control changes the result, max |diff| " + diff);
            String params = b.metadata().toA1111Parameters();
            assertTrue(params.contains("Union 2.1") && params.contains("Denoising strength: 0.5"), params);
        }
    }
}
