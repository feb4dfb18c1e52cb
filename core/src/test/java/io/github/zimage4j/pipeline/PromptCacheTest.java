package io.github.zimage4j.pipeline;

import io.github.zimage4j.image.PngFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Requests with the same prompt share one text encoding, and a cached encoding gives the same image. */
class PromptCacheTest {

    @TempDir
    Path model;

    private static byte[] png(ZImagePipeline pipe, GenerationRequest r) throws IOException {
        GeneratedImage img = pipe.generate(r).get(0);
        return PngFiles.toBytes(img.image(), img.metadata());
    }

    @Test
    void encodedPromptsNeedNoTextEncoderAndGiveTheSameImage() throws IOException {
        TinyModel.write(model, 11);
        ModelFiles files = ModelFiles.resolve(model.toString(), ModelFiles.Overrides.none());
        GenerationRequest fox = GenerationRequest.of("a red fox", 32, 32).toBuilder().steps(2).seed(1L).build();
        GenerationRequest guided = fox.toBuilder().seed(2L).guidance(2.0).negativePrompt("blurry").build();
        GenerationRequest other = fox.toBuilder().prompt("a cat").build();
        byte[] foxUncached;
        byte[] guidedUncached;
        try (ZImagePipeline pipe = ZImagePipeline.load(files, ZImagePipeline.Options.defaults())) {
            pipe.promptCacheSize(0);
            foxUncached = png(pipe, fox);
            guidedUncached = png(pipe, guided);
        }
        try (ZImagePipeline pipe = ZImagePipeline.load(files, ZImagePipeline.Options.defaults())) {
            pipe.promptCacheSize(0);
            pipe.cachePrompts(List.of(fox, guided, fox));
            // Without its weights the text encoder cannot run: whatever works now came from the cache.
            Path weights = model.resolve("text_encoder/model.safetensors");
            Files.move(weights, model.resolve("text_encoder.moved"));
            assertArrayEquals(foxUncached, png(pipe, fox));
            assertArrayEquals(guidedUncached, png(pipe, guided));
            assertThrows(IOException.class, () -> pipe.generate(other));
        }
    }
}
