package io.github.zimage4j.lora;

/**
 * How LoRAs reach the transformer. {@link #RUNTIME}: each linear layer adds {@code s·(x·Aᵀ)·Bᵀ} after its
 * base product; nothing is copied, any weight dtype works (quantized included) and changing LoRAs or
 * strengths only rebinds the model. {@link #MERGED}: the touched weights are copied once with
 * {@code W + ΔW} in their stored dtype; no per-step cost, but a copy of every touched tensor and a merge on
 * every change; F32/BF16/F16 weights only.
 */
public enum LoraMode {
    RUNTIME, MERGED;

    public static LoraMode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "runtime" -> RUNTIME;
            case "merged" -> MERGED;
            default -> throw new IllegalArgumentException("LoRA mode must be 'runtime' or 'merged', got '" + s + "'");
        };
    }
}
