package io.github.zimage4j.langchain4j;

import dev.langchain4j.data.image.Image;
import dev.langchain4j.model.image.ImageModel;
import dev.langchain4j.model.output.Response;
import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.ModelFiles;
import io.github.zimage4j.pipeline.TinyModel;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The tiny model's images through LangChain4j's own ImageModel interface. */
class ZImageModelTest {

    @TempDir
    Path dir;

    @Test
    void generatesThroughLangChain4jsImageModel() throws Exception {
        TinyModel.write(dir.resolve("tiny"), 3);
        try (ZImagePipeline pipe = ZImagePipeline.load(ModelFiles.resolve(dir.resolve("tiny").toString(), ModelFiles.Overrides.none()),
                new ZImagePipeline.Options("java", null))) {
            ImageModel model = ZImageModel.builder().pipeline(pipe).width(64).height(48).steps(2).seed(21).build();

            Response<Image> one = model.generate("a red fox in the snow");
            assertEquals("image/png", one.content().mimeType());
            assertEquals("a red fox in the snow", one.content().revisedPrompt());
            check(one.content(), 21);

            Response<List<Image>> two = model.generate("a lighthouse", 2);
            assertEquals(2, two.content().size());
            assertEquals(List.of(21L, 22L), two.metadata().get("seeds"));
            check(two.content().get(1), 22);
        }
    }

    private void check(Image image, long seed) throws Exception {
        byte[] png = Base64.getDecoder().decode(image.base64Data());
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(64, img.getWidth());
        assertEquals(48, img.getHeight());
        Path f = Files.write(dir.resolve("img-" + seed + ".png"), png);
        GenerationMetadata meta = PngFiles.readMetadata(f);
        assertEquals(seed, meta.seed());
        assertEquals(2, meta.steps());
    }
}
