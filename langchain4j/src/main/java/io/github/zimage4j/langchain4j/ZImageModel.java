package io.github.zimage4j.langchain4j;

import dev.langchain4j.data.image.Image;
import dev.langchain4j.model.image.ImageModel;
import dev.langchain4j.model.output.Response;
import io.github.zimage4j.image.PngFiles;
import io.github.zimage4j.pipeline.GeneratedImage;
import io.github.zimage4j.pipeline.GenerationRequest;
import io.github.zimage4j.pipeline.ZImagePipeline;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * LangChain4j's {@link ImageModel} over an in-process {@link ZImagePipeline} (no HTTP). Images come back as
 * base64 PNG (with the generation settings in their metadata chunks); the response metadata lists the seeds.
 *
 * <pre>{@code
 * ImageModel model = ZImageModel.builder().pipeline(pipe).width(1024).height(1024).build();
 * Image image = model.generate("a red fox in the snow").content();
 * }</pre>
 */
public final class ZImageModel implements ImageModel {

    private final ZImagePipeline pipeline;
    private final GenerationRequest template;

    private ZImageModel(Builder b) {
        this.pipeline = Objects.requireNonNull(b.pipeline, "pipeline");
        this.template = GenerationRequest.builder().prompt("").size(b.width, b.height).negativePrompt(b.negativePrompt)
                .steps(b.steps).guidance(b.guidance).seed(b.seed).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<Image> generate(String prompt) {
        Response<List<Image>> r = generate(prompt, 1);
        return new Response<>(r.content().get(0), null, null, r.metadata());
    }

    @Override
    public Response<List<Image>> generate(String prompt, int n) {
        GenerationRequest req = template.toBuilder().prompt(prompt).count(n).build();
        List<GeneratedImage> generated;
        try {
            generated = pipeline.generate(req);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<Image> images = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        for (GeneratedImage g : generated) {
            byte[] png = PngFiles.toBytes(g.image(), g.metadata());
            images.add(Image.builder().base64Data(Base64.getEncoder().encodeToString(png)).mimeType("image/png")
                    .revisedPrompt(prompt).build());
            seeds.add(g.seed());
        }
        return new Response<>(images, null, null, Map.of("seeds", seeds));
    }

    /** Settings for every call; unset ones take the model variant's defaults (a random seed each call). */
    public static final class Builder {
        private ZImagePipeline pipeline;
        private int width = 1024;
        private int height = 1024;
        private Integer steps;
        private Double guidance;
        private String negativePrompt = "";
        private Long seed;

        /** The loaded pipeline (load once, generate many); the caller closes it. */
        public Builder pipeline(ZImagePipeline p) {
            this.pipeline = p;
            return this;
        }

        public Builder width(int w) {
            this.width = w;
            return this;
        }

        public Builder height(int h) {
            this.height = h;
            return this;
        }

        public Builder steps(int s) {
            this.steps = s;
            return this;
        }

        public Builder guidance(double g) {
            this.guidance = g;
            return this;
        }

        public Builder negativePrompt(String n) {
            this.negativePrompt = n;
            return this;
        }

        /** A fixed seed for the first image of every call (images i of a call use seed + i). */
        public Builder seed(long s) {
            this.seed = s;
            return this;
        }

        public ZImageModel build() {
            return new ZImageModel(this);
        }
    }
}
