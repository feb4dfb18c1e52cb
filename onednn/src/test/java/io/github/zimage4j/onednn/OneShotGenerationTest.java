package io.github.zimage4j.onednn;

import io.github.zimage4j.io.Checkpoints;
import io.github.zimage4j.io.DType;
import io.github.zimage4j.io.TensorSource;
import io.github.zimage4j.pipeline.Cancellation;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.PipelineListener;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;
import io.github.zimage4j.quantize.GgufWriter;
import io.github.zimage4j.quantize.TransformerQuantizer;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ZImagePipeline#releaseTransformerBeforeDecode}: the copies freed before a decode are prepared again
 * by the next generation, whose image is then the same, bit for bit, as one from a pipeline that kept them.
 */
class OneShotGenerationTest {

    @TempDir
    static Path tmp;

    @ParameterizedTest(name = "{0} transformer")
    @ValueSource(strings = {"q8_0", "bf16"})
    void aGenerationAfterTheReleaseEqualsOneWithoutIt(String form) throws IOException {
        Path model = tmp.resolve("tiny-" + form);
        TinyModel.write(model, 11);
        Path transformer = model.resolve("transformer/diffusion_pytorch_model.safetensors");
        if (form.equals("q8_0")) {
            Path q8 = tmp.resolve("transformer-q8_0.gguf");
            try (TensorSource src = Checkpoints.open(transformer)) {
                GgufWriter.Progress quiet = (index, count, tensor, done, total) -> { };
                TransformerQuantizer.quantize(src, DType.Q8_0, q8, quiet);
            }
            transformer = q8;
        }
        ModelFiles files = ModelFiles.resolve(model.toString(), new ModelFiles.Overrides(transformer, null, null, null));
        GenerationRequest request = GenerationRequest.builder().prompt("a red fox in the snow").size(64, 64).steps(2)
                .seed(5L).build();
        String prepack = System.getProperty(Prepack.PROPERTY);
        System.setProperty(Prepack.PROPERTY, "on"); // bf16 weights reused across steps are packed, so there is a copy
        try (ZImagePipeline keeping = ZImagePipeline.load(files, new ZImagePipeline.Options("onednn", null));
             ZImagePipeline releasing = ZImagePipeline.load(files, new ZImagePipeline.Options("onednn", null))) {
            releasing.releaseTransformerBeforeDecode(true);
            GeneratedImage want = generate(keeping, request);
            GeneratedImage first = generate(releasing, request);
            GeneratedImage second = generate(releasing, request);
            if (form.equals("q8_0")) {
                assertTrue(releasing.weightPreparation().prepared(), "the second generation converted the weights again");
            }
            assertArrayEquals(want.latents().data(), first.latents().data(), "first generation");
            assertArrayEquals(want.latents().data(), second.latents().data(), "after the release");
            assertArrayEquals(want.image().pixels(), second.image().pixels(), "the image after the release");
        } finally {
            if (prepack == null) {
                System.clearProperty(Prepack.PROPERTY);
            } else {
                System.setProperty(Prepack.PROPERTY, prepack);
            }
        }
    }

    private static GeneratedImage generate(ZImagePipeline pipe, GenerationRequest request) throws IOException {
        return pipe.generate(request, new PipelineListener() { }, Cancellation.none()).getFirst();
    }
}
