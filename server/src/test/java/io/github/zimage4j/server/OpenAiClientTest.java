package io.github.zimage4j.server;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.errors.BadRequestException;
import com.openai.models.images.Image;
import com.openai.models.images.ImageGenerateParams;
import com.openai.models.images.ImagesResponse;
import io.github.zimage4j.image.GenerationMetadata;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The OpenAI-compatible endpoint called through OpenAI's own Java client library. */
class OpenAiClientTest extends OnTinyServer {

    static OpenAIClient client() {
        return OpenAIOkHttpClient.builder().baseUrl(s.server.uri() + "/v1").apiKey("not-checked-on-loopback").maxRetries(0).build();
    }

    @Test
    void generatesThroughTheOfficialClient() throws Exception {
        OpenAIClient client = client();
        try {
            ImagesResponse r = client.images().generate(ImageGenerateParams.builder()
                    .model("dall-e-2").prompt("a red fox in the snow").n(2L).size("64x48")
                    .responseFormat(ImageGenerateParams.ResponseFormat.B64_JSON)
                    .putAdditionalBodyProperty("seed", JsonValue.from(77))
                    .putAdditionalBodyProperty("steps", JsonValue.from(2))
                    .build());
            assertTrue(r.created() > 0);
            List<Image> data = r.data().orElseThrow();
            assertEquals(2, data.size());
            for (int i = 0; i < 2; i++) {
                byte[] png = Base64.getDecoder().decode(data.get(i).b64Json().orElseThrow());
                BufferedImage img = TestServer.png(png);
                assertEquals(64, img.getWidth());
                assertEquals(48, img.getHeight());
                GenerationMetadata meta = CompatApiTest.metadata(png);
                assertEquals(77 + i, meta.seed());
                assertEquals(2, meta.steps());
            }
            BadRequestException e = assertThrows(BadRequestException.class, () -> client.images().generate(
                    ImageGenerateParams.builder().prompt("x").size("1000x1000").build()));
            assertTrue(e.getMessage().contains("size"), e.getMessage());
        } finally {
            client.close();
        }
    }
}
