package io.github.zimage4j.pipeline;

import io.github.zimage4j.image.GenerationMetadata;
import io.github.zimage4j.image.UInt8Image;
import io.github.zimage4j.tensor.Tensor;

/** One generated image with the settings that reproduce it and its final latents [16, 1, h, w]. */
public record GeneratedImage(UInt8Image image, long seed, GenerationMetadata metadata, Tensor latents) {
}
