package io.github.zimage4j.springai;

import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.image.ImageMessage;
import org.springframework.ai.image.ImageModel;
import org.springframework.ai.image.ImageOptionsBuilder;
import org.springframework.ai.image.ImagePrompt;
import org.springframework.ai.image.ImageResponse;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The tiny model's images through Spring AI's own ImageModel interface. */
class ZImageModelTest {

    @TempDir
    Path dir;

    @Test
    void generatesThroughSpringAisImageModel() throws Exception {
        TinyModel.write(dir.resolve("tiny"), 3);
        try (ZImagePipeline pipe = ZImagePipeline.load(ModelFiles.resolve(dir.resolve("tiny").toString(), ModelFiles.Overrides.none()),
                new ZImagePipeline.Options("java", null))) {
            ImageModel model = new ZImageModel(pipe, ZImageOptions.create().steps(2).seed(5));

            // Spring AI's own options builder: n, width, height.
            ImageResponse r = model.call(new ImagePrompt("a red fox in the snow",
                    ImageOptionsBuilder.builder().N(2).width(64).height(32).build()));
            assertEquals(2, r.getResults().size());
            for (int i = 0; i < 2; i++) {
                assertNull(r.getResults().get(i).getOutput().getUrl());
                GenerationMetadata meta = check(r.getResults().get(i).getOutput().getB64Json(), 64, 32);
                assertEquals(5 + i, meta.seed());
                assertEquals(5L + i, ((ZImageModel.Seed) r.getResults().get(i).getMetadata()).seed());
                assertEquals("a red fox in the snow", meta.prompt());
            }

            // Z-Image's options, and a negative-weight message as the negative prompt.
            ImageResponse neg = model.call(new ImagePrompt(List.of(new ImageMessage("a lighthouse"), new ImageMessage("fog", -1f)),
                    ZImageOptions.create().width(48).height(48).steps(1).guidance(2).seed(9)));
            GenerationMetadata meta = check(neg.getResult().getOutput().getB64Json(), 48, 48);
            assertEquals("fog", meta.negativePrompt());
            assertEquals(1, meta.steps());
            assertEquals(2.0, meta.guidanceScale());
            assertEquals(9, meta.seed());
        }
    }

    private GenerationMetadata check(String b64, int w, int h) throws Exception {
        byte[] png = Base64.getDecoder().decode(b64);
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(w, img.getWidth());
        assertEquals(h, img.getHeight());
        Path f = Files.createTempFile(dir, "img", ".png");
        Files.write(f, png);
        return PngFiles.readMetadata(f);
    }
}
