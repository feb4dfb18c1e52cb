package io.github.zimage4j.pipeline;

import io.github.zimage4j.tensor.Tensor;

import java.util.List;

/** Progress and intermediate results of a generation; every method is optional. */
public interface PipelineListener {

    /** The stages of a generation, in order. */
    enum Stage { ENCODING_PROMPT, ENCODING_IMAGES, DENOISING, DECODING }

    default void stage(Stage stage) {
    }

    /** The caption features per image (negative ones empty without guidance). */
    default void promptEmbeddings(List<Tensor> positive, List<Tensor> negative) {
    }

    /** The latents denoising starts from, per image [16, 1, h, w] (noise, or the re-noised init image). */
    default void initialLatents(List<Tensor> latents) {
    }

    /** After every denoising step (for progress bars); its arrays are valid only during the call. */
    default void step(Denoiser.Step step) {
    }

    /** The decoder's float output [3, H, W] in [-1, 1], before conversion to 8-bit. */
    default void decoded(int image, Tensor decoded) {
    }

    PipelineListener NONE = new PipelineListener() {
    };
}
