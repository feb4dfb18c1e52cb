package io.github.zimage4j.springai;

import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ZImagePipeline;
import org.springframework.ai.image.Image;
import org.springframework.ai.image.ImageGeneration;
import org.springframework.ai.image.ImageMessage;
import org.springframework.ai.image.ImageModel;
import org.springframework.ai.image.ImageOptions;
import org.springframework.ai.image.ImagePrompt;
import org.springframework.ai.image.ImageResponse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;

/**
 * Spring AI's {@link ImageModel} over an in-process {@link ZImagePipeline} (no HTTP). Messages with a
 * positive weight (or none) form the prompt; messages with a negative weight the negative prompt, the
 * convention of Spring AI's Stability AI model. Images come back as base64 PNG with their settings in the
 * PNG metadata; the default options apply where a call's options leave a setting unset.
 *
 * <pre>{@code
 * ImageModel model = new ZImageModel(pipe, ZImageOptions.create().width(1024).height(1024));
 * String b64 = model.call(new ImagePrompt("a red fox in the snow")).getResult().getOutput().getB64Json();
 * }</pre>
 */
public final class ZImageModel implements ImageModel {

    private final ZImagePipeline pipeline;
    private final ZImageOptions defaults;

    /** @param pipeline the loaded pipeline (the caller closes it) */
    public ZImageModel(ZImagePipeline pipeline, ZImageOptions defaults) {
        this.pipeline = Objects.requireNonNull(pipeline, "pipeline");
        this.defaults = defaults == null ? ZImageOptions.create() : defaults;
    }

    @Override
    public ImageResponse call(ImagePrompt request) {
        List<String> positive = new ArrayList<>();
        List<String> negative = new ArrayList<>();
        for (ImageMessage m : request.getInstructions()) {
            (m.getWeight() != null && m.getWeight() < 0 ? negative : positive).add(m.getText());
        }
        ImageOptions o = request.getOptions();
        ZImageOptions z = o instanceof ZImageOptions zo ? zo : null;
        int width = first(o == null ? null : o.getWidth(), defaults.getWidth(), 1024);
        int height = first(o == null ? null : o.getHeight(), defaults.getHeight(), 1024);
        int n = first(o == null ? null : o.getN(), defaults.getN(), 1);
        String neg = negative.isEmpty() ? first(z == null ? null : z.getNegativePrompt(), defaults.getNegativePrompt(), "")
                : String.join(" ", negative);
        GenerationRequest req = GenerationRequest.builder().prompt(String.join(" ", positive)).size(width, height).count(n)
                .negativePrompt(neg)
                .steps(first(z == null ? null : z.getSteps(), defaults.getSteps(), null))
                .guidance(first(z == null ? null : z.getGuidance(), defaults.getGuidance(), null))
                .seed(first(z == null ? null : z.getSeed(), defaults.getSeed(), null))
                .build();
        List<GeneratedImage> generated;
        try {
            generated = pipeline.generate(req);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<ImageGeneration> out = new ArrayList<>();
        for (GeneratedImage g : generated) {
            byte[] png = PngFiles.toBytes(g.image(), g.metadata());
            out.add(new ImageGeneration(new Image(null, Base64.getEncoder().encodeToString(png)), new Seed(g.seed())));
        }
        return new ImageResponse(out);
    }

    /** The seed an image was generated with (rerun with it to get the same image). */
    public record Seed(long seed) implements org.springframework.ai.image.ImageGenerationMetadata {
    }

    private static <T> T first(T a, T b, T c) {
        return a != null ? a : b != null ? b : c;
    }
}
