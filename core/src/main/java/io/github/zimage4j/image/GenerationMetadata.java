package io.github.zimage4j.image;

import io.github.zimage4j.io.Json;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The settings that made an image, written into the PNG twice: as the A1111 {@code parameters} text that
 * A1111, Forge, ComfyUI and Civitai read, and as JSON that holds everything needed to regenerate the image
 * exactly (the diffusers call arguments plus model, precision and version).
 *
 * @param prompt             the prompt
 * @param negativePrompt     the negative prompt, "" when none
 * @param steps              num_inference_steps
 * @param sampler            sampler name as A1111 spells it ("Euler" for the flow-matching Euler scheduler)
 * @param guidanceScale      diffusers' guidance_scale g, in {@code pos + g·(pos − neg)}; 0 turns CFG off
 * @param cfgNormalization   cfg_normalization factor; 0 is off (True in diffusers is 1.0)
 * @param cfgTruncation      cfg_truncation; 1.0 (the default) never truncates
 * @param seed               the generator seed (torch CPU generator; only the low 32 bits matter)
 * @param width              image width in pixels
 * @param height             image height in pixels
 * @param modelName          model name (checkpoint file or folder name)
 * @param modelHash          model hash, A1111 style (first 10 hex digits of the file's SHA-256), or null
 * @param schedulerShift     the flow-matching scheduler's shift (3.0 Turbo, 6.0 base)
 * @param strength           image-to-image strength (A1111 "Denoising strength"), or null for text-to-image
 * @param maxSequenceLength  the prompt token limit (512)
 * @param precision          how the weights were computed, e.g. "float32" or "bf16 weights, float32 compute"
 * @param version            the producing software and version, e.g. "zimage4j 0.1.0"
 * @param extra              further settings (LoRAs, ControlNet, …) in order; they appear in both texts
 */
public record GenerationMetadata(String prompt, String negativePrompt, int steps, String sampler, double guidanceScale,
                                 double cfgNormalization, double cfgTruncation, long seed, int width, int height,
                                 String modelName, String modelHash, double schedulerShift, Double strength,
                                 int maxSequenceLength, String precision, String version, Map<String, String> extra) {

    /** The JSON {@code format} tag. */
    public static final String FORMAT = "zimage4j-generation";
    public static final int FORMAT_VERSION = 1;

    public GenerationMetadata {
        if (prompt == null) {
            throw new IllegalArgumentException("prompt is required (use \"\" for an empty prompt)");
        }
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        extra = extra == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(extra));
    }

    /**
     * A1111's CFG scale for this guidance. A1111 (and ComfyUI) mix {@code uncond + w·(cond − uncond)}; Z-Image's
     * {@code pos + g·(pos − neg)} is the same with {@code w = 1 + g}, so Turbo's g = 0 is "CFG scale: 1".
     */
    public double a1111CfgScale() {
        return 1 + guidanceScale;
    }

    /**
     * The A1111 infotext: the prompt, a {@code Negative prompt:} line when there is one, then one line of
     * {@code Key: value} pairs separated by ", ". Values holding ',', ':' or a newline are JSON-quoted, as
     * A1111 writes them.
     */
    public String toA1111Parameters() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("Steps", Integer.toString(steps));
        p.put("Sampler", sampler);
        p.put("CFG scale", format(a1111CfgScale()));
        p.put("Seed", Long.toString(seed));
        p.put("Size", width + "x" + height);
        p.put("Model hash", modelHash);
        p.put("Model", modelName);
        p.put("Denoising strength", strength == null ? null : format(strength));
        p.put("RNG", "CPU");
        p.put("Shift", format(schedulerShift));
        p.put("CFG normalization", cfgNormalization > 0 ? format(cfgNormalization) : null);
        p.put("CFG truncation", cfgTruncation < 1 ? format(cfgTruncation) : null);
        p.putAll(extra);
        p.put("Version", version);
        List<String> pairs = new ArrayList<>();
        for (Map.Entry<String, String> e : p.entrySet()) {
            if (e.getValue() != null) {
                pairs.add(e.getKey() + ": " + quote(e.getValue()));
            }
        }
        String negative = negativePrompt.isEmpty() ? "" : "\nNegative prompt: " + negativePrompt;
        return (prompt + negative + "\n" + String.join(", ", pairs)).strip();
    }

    /** The reproduction record: the diffusers call arguments' names, plus model, precision and version. */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", FORMAT);
        m.put("format_version", FORMAT_VERSION);
        m.put("prompt", prompt);
        m.put("negative_prompt", negativePrompt);
        m.put("num_inference_steps", steps);
        m.put("sampler", sampler);
        m.put("guidance_scale", guidanceScale);
        m.put("cfg_normalization", cfgNormalization);
        m.put("cfg_truncation", cfgTruncation);
        m.put("seed", seed);
        m.put("generator", "torch-cpu");
        m.put("width", width);
        m.put("height", height);
        m.put("model_name", modelName);
        m.put("model_hash", modelHash);
        m.put("scheduler", "FlowMatchEulerDiscreteScheduler");
        m.put("scheduler_shift", schedulerShift);
        m.put("strength", strength);
        m.put("max_sequence_length", maxSequenceLength);
        m.put("precision", precision);
        m.put("version", version);
        m.put("extra", extra);
        return Json.write(m);
    }

    /** Reads {@link #toJson()}'s output back; fails, naming the key, on anything else. */
    public static GenerationMetadata fromJson(String json) {
        if (!(Json.parse(json) instanceof Map<?, ?> m)) {
            throw new IllegalArgumentException("generation metadata must be a JSON object");
        }
        if (!FORMAT.equals(m.get("format"))) {
            throw new IllegalArgumentException("not zimage4j generation metadata (format is " + m.get("format") + ")");
        }
        if (!(m.get("format_version") instanceof Long v) || v != FORMAT_VERSION) {
            throw new IllegalArgumentException("unsupported generation metadata format_version " + m.get("format_version"));
        }
        Map<String, String> extra = new LinkedHashMap<>();
        if (m.get("extra") instanceof Map<?, ?> e) {
            e.forEach((k, val) -> extra.put((String) k, (String) val));
        }
        return new GenerationMetadata(string(m, "prompt"), string(m, "negative_prompt"), (int) integer(m, "num_inference_steps"),
                string(m, "sampler"), number(m, "guidance_scale"), number(m, "cfg_normalization"), number(m, "cfg_truncation"),
                integer(m, "seed"), (int) integer(m, "width"), (int) integer(m, "height"), string(m, "model_name"),
                string(m, "model_hash"), number(m, "scheduler_shift"),
                m.get("strength") == null ? null : number(m, "strength"), (int) integer(m, "max_sequence_length"),
                string(m, "precision"), string(m, "version"), extra);
    }

    private static String string(Map<?, ?> m, String key) {
        Object v = m.get(key);
        if (v == null || v instanceof String) {
            return (String) v;
        }
        throw new IllegalArgumentException("generation metadata: \"" + key + "\" should be a string, found " + v);
    }

    private static double number(Map<?, ?> m, String key) {
        if (m.get(key) instanceof Number n) {
            return n.doubleValue();
        }
        throw new IllegalArgumentException("generation metadata: \"" + key + "\" should be a number, found " + m.get(key));
    }

    private static long integer(Map<?, ?> m, String key) {
        if (m.get(key) instanceof Long n) {
            return n;
        }
        throw new IllegalArgumentException("generation metadata: \"" + key + "\" should be an integer, found " + m.get(key));
    }

    /** A1111's {@code quote}: JSON-quote values that would break the comma-separated line. */
    static String quote(String v) {
        if (v.indexOf(',') < 0 && v.indexOf('\n') < 0 && v.indexOf(':') < 0) {
            return v;
        }
        return Json.write(v);
    }

    /** Shortest round-trip decimal, as Python's str() writes the values used here ("5.0", "0.15"). */
    private static String format(double v) {
        return Double.toString(v);
    }
}
