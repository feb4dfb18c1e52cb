package io.github.zimage4j.pipeline;

import io.github.zimage4j.io.ModelFileException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Library behaviour on a tiny random model: seeds, batches, cancellation, variant detection, bad locations. */
class PipelineBehaviourTest {

    @TempDir
    static Path model;

    @BeforeAll
    static void tinyModel() throws IOException {
        TinyModel.write(model, 5);
    }

    static ZImagePipeline open() throws IOException {
        return ZImagePipeline.load(ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none()),
                new ZImagePipeline.Options("java", null));
    }

    @Test
    void batchImageIEqualsASingleRunWithSeedPlusI() throws IOException {
        try (ZImagePipeline pipe = open()) {
            assertEquals(Variant.TURBO, pipe.variant());
            GenerationRequest req = GenerationRequest.builder().prompt("a lighthouse").size(32, 32).steps(2).seed(100L).build();
            List<GeneratedImage> batch = pipe.generate(req.toBuilder().count(2).build());
            GeneratedImage second = pipe.generate(req.toBuilder().seed(101L).build()).get(0);
            assertEquals(100, batch.get(0).seed());
            assertEquals(101, batch.get(1).seed());
            assertArrayEquals(second.latents().data(), batch.get(1).latents().data(), 1e-5f);
            assertTrue(!java.util.Arrays.equals(batch.get(0).latents().data(), batch.get(1).latents().data()),
                    "different seeds give different images");
        }
    }

    @Test
    void cancellationStopsBetweenSteps() throws IOException {
        try (ZImagePipeline pipe = open()) {
            Cancellation cancel = new Cancellation();
            int[] steps = {0};
            PipelineListener stopAfterFirst = new PipelineListener() {
                @Override
                public void step(Denoiser.Step step) {
                    steps[0]++;
                    cancel.cancel();
                }
            };
            assertThrows(CancellationException.class,
                    () -> pipe.generate(GenerationRequest.builder().prompt("x").size(32, 32).steps(4).seed(1L).build(), stopAfterFirst, cancel));
            assertEquals(1, steps[0]);
        }
    }

    @Test
    void variantDetection() {
        assertEquals(Variant.TURBO, Variant.detect(3.0, "anything"));
        assertEquals(Variant.BASE, Variant.detect(6.0, "z_image_turbo"));
        assertEquals(Variant.TURBO, Variant.detect(null, "z_image_turbo_bf16.safetensors"));
        assertEquals(Variant.BASE, Variant.detect(null, "z_image_bf16.safetensors"));
        assertEquals(null, Variant.detect(null, "model.safetensors"));
        assertEquals(Variant.BASE, Variant.parse("base"));
        assertThrows(IllegalArgumentException.class, () -> Variant.parse("fast"));
    }

    @Test
    void badLocationsAreNamed() throws IOException {
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> ModelFiles.resolve("NoSuchOrg/NoSuchModel", ModelFiles.Overrides.none()));
        assertTrue(e.getMessage().contains("not in the Hugging Face cache"), e.getMessage());
        Path notModel = Files.createTempDirectory("not-a-model");
        e = assertThrows(ModelFileException.class, () -> ModelFiles.resolve(notModel.toString(), ModelFiles.Overrides.none()));
        assertTrue(e.getMessage().contains("no model_index.json"), e.getMessage());
        e = assertThrows(ModelFileException.class, () -> ModelFiles.resolve(null, ModelFiles.Overrides.none()));
        assertTrue(e.getMessage().contains("--model"), e.getMessage());
    }

    @Test
    void requestValidation() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GenerationRequest.of("x", 1000, 1024));
        assertTrue(e.getMessage().contains("nearest valid: 1008x1024"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().prompt("x").size(64, 64).steps(0).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().prompt("x").size(64, 64).guidance(-1.0).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().prompt("x").size(64, 64).count(0).build());
        assertThrows(IllegalArgumentException.class, () -> GenerationRequest.of("x", 16384, 64));
    }
}
