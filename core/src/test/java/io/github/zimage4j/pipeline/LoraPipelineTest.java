package io.github.zimage4j.pipeline;

import io.github.zimage4j.io.SafeTensors;
import io.github.zimage4j.io.SafeTensorsWriter;
import io.github.zimage4j.lora.LoraMode;
import io.github.zimage4j.lora.LoraSpec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs per request on one loaded pipeline: switching them on, changing the strength, and off again gives
 * exactly the images a fresh pipeline gives, in both modes.
 */
class LoraPipelineTest {

    @TempDir
    static Path model;

    /** Two pipelines may differ in the last bit (kernels warm up between runs); a LoRA moves latents by far more. */
    private static final float TOL = 1e-5f;

    static Path lora;

    @BeforeAll
    static void tinyModelAndLora() throws IOException {
        TinyModel.write(model, 9);
        long out;
        long in;
        try (SafeTensors t = SafeTensors.open(model.resolve("transformer/diffusion_pytorch_model.safetensors"))) {
            out = t.find("layers.0.feed_forward.w2.weight").dim(0);
            in = t.find("layers.0.feed_forward.w2.weight").dim(1);
        }
        float[] a = new float[(int) (4 * in)];
        float[] b = new float[(int) (out * 4)];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) Math.sin(0.7 * i);
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) Math.cos(1.3 * i);
        }
        lora = model.resolve("lora.safetensors");
        new SafeTensorsWriter()
                .addF32("diffusion_model.layers.0.feed_forward.w2.lora_A.weight", new long[]{4, in}, a)
                .addF32("diffusion_model.layers.0.feed_forward.w2.lora_B.weight", new long[]{out, 4}, b)
                .write(lora);
    }

    private static ZImagePipeline open(LoraMode mode) throws IOException {
        return ZImagePipeline.load(ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()),
                new ZImagePipeline.Options("java", null).withLoras(mode, false));
    }

    private static float[] image(ZImagePipeline pipe, List<LoraSpec> loras) throws IOException {
        return pipe.generate(GenerationRequest.builder().prompt("a lighthouse").size(32, 32).steps(2).seed(3L).loras(loras)
                .build()).get(0).latents().data();
    }

    @Test
    void lorasSwitchPerRequestWithoutReloading() throws IOException {
        for (LoraMode mode : LoraMode.values()) {
            float[] plain;
            float[] strong;
            try (ZImagePipeline fresh = open(mode)) {
                plain = image(fresh, List.of());
            }
            try (ZImagePipeline fresh = open(mode)) {
                strong = image(fresh, List.of(new LoraSpec(lora, 0.9)));
            }
            assertTrue(io.github.zimage4j.testing.Compare.relativeError(strong, plain) > 1e-3, "the LoRA changes the image");
            try (ZImagePipeline pipe = open(mode)) {
                assertArrayEquals(plain, image(pipe, List.of()), TOL, mode + ": no LoRA");
                float[] weak = image(pipe, List.of(new LoraSpec(lora, 0.2)));
                assertTrue(io.github.zimage4j.testing.Compare.relativeError(weak, strong) > 1e-3, mode + ": the strength matters");
                assertArrayEquals(strong, image(pipe, List.of(new LoraSpec(lora, 0.9))), TOL, mode + ": strength changed in place");
                assertArrayEquals(plain, image(pipe, List.of()), TOL, mode + ": LoRA switched off again");
                assertEquals(3, pipe.useLoras(List.of(new LoraSpec(lora, 0.5), new LoraSpec(lora, 0.4))).appliedTensors() - 1,
                        mode + ": the same file twice is two adapters");
            }
        }
    }
}
