package io.github.zimage4j.pipeline;

import io.github.zimage4j.lora.LoraSpec;
import io.github.zimage4j.tensor.Tensor;
import io.github.zimage4j.tokenizer.Qwen3Tokenizer;

import java.util.List;

/**
 * What to generate. Null fields take the model variant's defaults (steps, guidance) or the reference's
 * (negative prompt "", cfg normalization off, cfg truncation 1.0, a random seed).
 *
 * @param prompt            the prompt (Chinese or English)
 * @param negativePrompt    the negative prompt (used only with guidance); null = ""
 * @param width             image width in pixels, a multiple of 16
 * @param height            image height in pixels, a multiple of 16
 * @param steps             denoising steps; null = the variant's default (Turbo 8, base 50)
 * @param guidance          guidance scale g ({@code pos + g·(pos − neg)}, i.e. the usual CFG scale w − 1);
 *                          null = the variant's default (Turbo 0, base 4)
 * @param cfgNormalization  0 = off; c &gt; 0 caps ‖pred‖ at c·‖pos‖
 * @param cfgTruncation     1.0 = never; guidance is skipped where the model time 1 − σ exceeds it
 * @param seed              seed of image 0; image i uses seed + i; null = random
 * @param count             number of images (seeds seed … seed + count − 1)
 * @param maxSequenceLength prompt token limit (the reference's 512); longer prompts are truncated
 * @param initialLatents    the initial noise of image 0 [16, 1, h, w] instead of drawing it from the seed
 *                          (reproducing another tool's exact noise); null = from the seed
 * @param loras             LoRAs with their strengths; empty (or null) = none
 */
public record GenerationRequest(String prompt, String negativePrompt, int width, int height, Integer steps,
                                Double guidance, double cfgNormalization, double cfgTruncation, Long seed, int count,
                                int maxSequenceLength, Tensor initialLatents, List<LoraSpec> loras) {

    /** The VAE downsamples by 8 and the transformer patches by 2. */
    public static final int SIZE_MULTIPLE = 16;
    /** Largest side: 512 patch positions (the transformer's axes_lens) × 16 pixels. */
    public static final int MAX_SIDE = 8192;

    public GenerationRequest {
        if (prompt == null) {
            throw new IllegalArgumentException("a prompt is required (\"\" is allowed)");
        }
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        loras = loras == null ? List.of() : List.copyOf(loras);
        if (width <= 0 || height <= 0 || width % SIZE_MULTIPLE != 0 || height % SIZE_MULTIPLE != 0) {
            throw new IllegalArgumentException("width and height must be positive multiples of " + SIZE_MULTIPLE
                    + ", got " + width + "x" + height + nearest(width, height));
        }
        if (width > MAX_SIDE || height > MAX_SIDE) {
            // The RoPE tables cover 512 patch positions per axis.
            throw new IllegalArgumentException("at most " + MAX_SIDE + " pixels per side, got " + width + "x" + height);
        }
        if (steps != null && steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        if (guidance != null && (!(guidance >= 0) || guidance.isInfinite())) {
            throw new IllegalArgumentException("guidance must be a finite number ≥ 0, got " + guidance);
        }
        if (!(cfgNormalization >= 0) || Double.isInfinite(cfgNormalization)) {
            throw new IllegalArgumentException("cfg normalization must be ≥ 0 (0 = off), got " + cfgNormalization);
        }
        if (Double.isNaN(cfgTruncation)) {
            throw new IllegalArgumentException("cfg truncation must be a number");
        }
        if (count < 1) {
            throw new IllegalArgumentException("the image count must be at least 1, got " + count);
        }
        if (maxSequenceLength < 1) {
            throw new IllegalArgumentException("max sequence length must be at least 1, got " + maxSequenceLength);
        }
        if (initialLatents != null) {
            int[] s = initialLatents.shape();
            if (s.length != 4 || s[0] != 16 || s[1] != 1 || s[2] != height / 8 || s[3] != width / 8) {
                throw new IllegalArgumentException("initial latents must be [16, 1, " + height / 8 + ", " + width / 8
                        + "] for " + width + "x" + height + ", got " + java.util.Arrays.toString(s));
            }
        }
    }

    private static String nearest(int w, int h) {
        if (w <= 0 || h <= 0) {
            return "";
        }
        int nw = Math.max(SIZE_MULTIPLE, Math.round(w / (float) SIZE_MULTIPLE) * SIZE_MULTIPLE);
        int nh = Math.max(SIZE_MULTIPLE, Math.round(h / (float) SIZE_MULTIPLE) * SIZE_MULTIPLE);
        return " (nearest valid: " + nw + "x" + nh + ")";
    }

    /** The request without LoRAs (the form before {@code loras} was added). */
    public GenerationRequest(String prompt, String negativePrompt, int width, int height, Integer steps, Double guidance,
                             double cfgNormalization, double cfgTruncation, Long seed, int count, int maxSequenceLength,
                             Tensor initialLatents) {
        this(prompt, negativePrompt, width, height, steps, guidance, cfgNormalization, cfgTruncation, seed, count,
                maxSequenceLength, initialLatents, List.of());
    }

    /** LoRAs to apply, each with its strength (empty: none); switching them between requests only rebinds. */
    public GenerationRequest withLoras(List<LoraSpec> l) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidance, cfgNormalization, cfgTruncation,
                seed, count, maxSequenceLength, initialLatents, l);
    }

    /** A request with the reference defaults for everything but prompt and size. */
    public static GenerationRequest of(String prompt, int width, int height) {
        return new GenerationRequest(prompt, "", width, height, null, null, 0, 1.0, null, 1,
                Qwen3Tokenizer.DEFAULT_MAX_SEQUENCE_LENGTH, null, List.of());
    }

    public GenerationRequest withSeed(long s) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidance, cfgNormalization, cfgTruncation,
                s, count, maxSequenceLength, initialLatents, loras);
    }

    public GenerationRequest withSteps(int s) {
        return new GenerationRequest(prompt, negativePrompt, width, height, s, guidance, cfgNormalization, cfgTruncation,
                seed, count, maxSequenceLength, initialLatents, loras);
    }

    public GenerationRequest withGuidance(double g) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, g, cfgNormalization, cfgTruncation,
                seed, count, maxSequenceLength, initialLatents, loras);
    }

    public GenerationRequest withNegativePrompt(String n) {
        return new GenerationRequest(prompt, n, width, height, steps, guidance, cfgNormalization, cfgTruncation,
                seed, count, maxSequenceLength, initialLatents, loras);
    }

    public GenerationRequest withCount(int c) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidance, cfgNormalization, cfgTruncation,
                seed, c, maxSequenceLength, initialLatents, loras);
    }

    public GenerationRequest withCfg(double normalization, double truncation) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidance, normalization, truncation,
                seed, count, maxSequenceLength, initialLatents, loras);
    }

    public GenerationRequest withInitialLatents(Tensor latents) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidance, cfgNormalization, cfgTruncation,
                seed, count, maxSequenceLength, latents, loras);
    }

    public GenerationRequest withMaxSequenceLength(int n) {
        return new GenerationRequest(prompt, negativePrompt, width, height, steps, guidance, cfgNormalization, cfgTruncation,
                seed, count, n, initialLatents, loras);
    }
}
