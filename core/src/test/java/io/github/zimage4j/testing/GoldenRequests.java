package io.github.zimage4j.testing;

import io.github.zimage4j.pipeline.GenerationRequest;

import java.util.Map;

/** A golden pipeline case's {@code meta.json} as a text-to-image request, read the one way every parity test needs it. */
public final class GoldenRequests {

    private GoldenRequests() {
    }

    /**
     * Prompt, size, effective negative prompt, steps, guidance, CFG normalization and truncation (diffusers'
     * defaults where the case did not pass them: no normalization, truncation 1.0), max sequence length, seed.
     */
    public static GenerationRequest.Builder textToImage(Map<String, Object> meta) {
        Map<?, ?> args = (Map<?, ?>) meta.get("call_args");
        Object neg = meta.get("negative_prompt_effective") != null ? meta.get("negative_prompt_effective") : meta.get("negative_prompt");
        Object norm = args.get("cfg_normalization");
        double cfgNorm = norm == null ? 0 : norm instanceof Boolean b ? (b ? 1.0 : 0.0) : ((Number) norm).doubleValue();
        Object trunc = args.get("cfg_truncation");
        return GenerationRequest.builder().prompt((String) meta.get("prompt"))
                .size(((Number) args.get("width")).intValue(), ((Number) args.get("height")).intValue())
                .negativePrompt(neg == null ? "" : (String) neg)
                .steps(((Number) args.get("num_inference_steps")).intValue())
                .guidance(((Number) args.get("guidance_scale")).doubleValue())
                .cfgNormalization(cfgNorm).cfgTruncation(trunc == null ? 1.0 : ((Number) trunc).doubleValue())
                .maxSequenceLength(((Number) args.get("max_sequence_length")).intValue())
                .seed(((Number) meta.get("seed")).longValue());
    }
}
